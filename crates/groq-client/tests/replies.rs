//! Arbitrary bytes as the server's reply, for every status class and for streams: the client
//! answers with a value or an error, never a panic, and always settles the request.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use groq_client::{ChatRequest, Config, GroqClient, ModelConfig, RetryPolicy};
use groq_config::{Limits, Rate, UnknownModelPolicy};
use groq_transport::mock::{self, MockTransport};
use proptest::prelude::*;

fn client(status: u16, body: Vec<u8>, stream: bool) -> GroqClient {
    let body = Bytes::from(body);
    let transport = MockTransport::from_fn(move |_| {
        let mut response = mock::response(status, body.clone());
        let kind = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        response
            .headers_mut()
            .insert("content-type", kind.parse().unwrap());
        Ok(response)
    });
    let config = Config::builder()
        .clear_models()
        .base_url("https://api.groq.test/openai/v1")
        .api_key("gsk_reply_fuzz_key_0123456789")
        .model(
            ModelConfig::new("m")
                .with_limits(Limits::unlimited().with_tokens_per_minute(Rate::per_minute(100_000)))
                .with_context_window(4_096u32),
        )
        .unknown_models(UnknownModelPolicy::Reject)
        .build()
        .unwrap();
    GroqClient::builder()
        .config(config)
        .transport(Arc::new(transport))
        .retry_policy(RetryPolicy::never())
        .max_rate_limit_retries(0)
        .build()
        .unwrap()
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        "\\PC{0,200}".prop_map(String::into_bytes),
        // JSON-shaped noise: closer to what a broken server sends.
        prop::collection::vec(
            prop::sample::select(vec![
                "{",
                "}",
                "[",
                "]",
                ":",
                ",",
                "\"error\"",
                "\"message\"",
                "\"choices\"",
                "\"usage\"",
                "null",
                "1",
                "-1e999",
                "\"x\"",
                "data: ",
                "\n\n",
                "[DONE]",
                "\"Rate limit reached on tokens per minute (TPM): try again in 99999h\"",
            ]),
            0..40,
        )
        .prop_map(|parts| parts.concat().into_bytes()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_reply_ends_in_one_result_or_one_error(
        status in prop::sample::select(vec![200u16, 400, 401, 404, 413, 429, 500, 503]),
        body in body(),
        stream in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async move {
            let client = client(status, body, stream);
            let request = ChatRequest::new("m").user("hi").max_completion_tokens(10);
            let outcome = tokio::time::timeout(Duration::from_secs(3_600), async {
                if stream {
                    match client.chat_stream(request).await {
                        Ok(mut chunks) => {
                            while let Some(item) = chunks.next().await {
                                if item.is_err() {
                                    break;
                                }
                            }
                            Ok(())
                        }
                        Err(error) => Err(error),
                    }
                } else {
                    client.chat(request).await.map(drop)
                }
            })
            .await;
            prop_assert!(outcome.is_ok(), "the call did not end");
            if status != 200 {
                prop_assert!(outcome.unwrap().is_err());
            }
            // Whatever happened, the request was settled.
            prop_assert_eq!(client.limits("m").unwrap().in_flight, 0);
            Ok(())
        })?;
    }
}
