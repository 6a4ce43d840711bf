//! Files, batches, embeddings and model deletion against the Groq emulator.

use std::time::Duration;

use groq_client::{Config, CreateBatch, EmbeddingRequest, ErrorKind, GroqClient, ModelConfig};
use groq_config::UnknownModelPolicy;
use groq_mock::{MockLimits, MockServer};
use serde_json::{Value, json};

const KEY: &str = "gsk_resources_test_0123456789";
const MODEL: &str = "llama-3.1-8b-instant";
const EMBED: &str = "nomic-embed-text-v1_5";

async fn setup() -> (MockServer, GroqClient) {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(MODEL, MockLimits::unlimited().rpm(1_000).tpm(1_000_000))
        .model(EMBED, MockLimits::unlimited())
        .minute_length(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let config = Config::builder()
        .clear_models()
        .base_url(server.base_url())
        .api_key(KEY)
        .unknown_models(UnknownModelPolicy::Reject)
        .model(ModelConfig::new(MODEL))
        .model(ModelConfig::new(EMBED))
        .build()
        .unwrap();
    let client = GroqClient::builder().config(config).build().unwrap();
    (server, client)
}

fn batch_input(n: usize) -> String {
    (0..n)
        .map(|i| {
            json!({"custom_id": format!("q{i}"), "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": MODEL, "messages": [{"role": "user", "content": format!("question {i}")}],
                            "max_completion_tokens": 20}})
            .to_string()
                + "\n"
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_round_trip_and_a_batch_completes() {
    let (server, client) = setup().await;
    let input = batch_input(5);
    let file = client
        .upload_file("input.jsonl", input.clone(), "batch")
        .await
        .unwrap();
    assert_eq!(file.bytes, input.len() as u64);
    assert_eq!(file.purpose, "batch");
    assert_eq!(client.files().await.unwrap().data.len(), 1);
    assert_eq!(client.file(&file.id).await.unwrap().filename, "input.jsonl");
    assert_eq!(
        client.file_content(&file.id).await.unwrap(),
        input.as_bytes()
    );

    let created = client
        .create_batch(&CreateBatch::new(&file.id, "/v1/chat/completions"))
        .await
        .unwrap();
    assert_eq!(created.status, "validating");
    assert_eq!(created.request_counts.unwrap().total, 5);
    let mut seen = vec![created.status.clone()];
    let done = loop {
        let batch = client.batch(&created.id).await.unwrap();
        if seen.last() != Some(&batch.status) {
            seen.push(batch.status.clone());
        }
        if batch.is_finished() {
            break batch;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(done.status, "completed", "{seen:?}");
    assert!(seen.contains(&"in_progress".to_owned()), "{seen:?}");
    assert_eq!(done.request_counts.unwrap().completed, 5);
    let output = client
        .file_content(done.output_file_id.as_deref().unwrap())
        .await
        .unwrap();
    let lines: Vec<Value> = output
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["custom_id"], format!("q{i}"));
        assert_eq!(line["response"]["status_code"], 200);
        assert_eq!(line["response"]["body"]["object"], "chat.completion");
        assert!(line["error"].is_null());
    }
    assert_eq!(client.batches().await.unwrap().data.len(), 1);
    // Batches do not touch the standard limits: the key's own buckets are untouched.
    assert_eq!(client.limits(MODEL).unwrap().in_flight, 0);

    let deleted = client.delete_file(&file.id).await.unwrap();
    assert!(deleted.deleted);
    let gone = client.file(&file.id).await.unwrap_err();
    assert_eq!(gone.status(), Some(404));
    assert!(client.file("../models").await.is_err());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_batch_stops() {
    let (server, client) = setup().await;
    let file = client
        .upload_file("input.jsonl", batch_input(200), "batch")
        .await
        .unwrap();
    let created = client
        .create_batch(&CreateBatch::new(&file.id, "/v1/chat/completions"))
        .await
        .unwrap();
    let cancelling = client.cancel_batch(&created.id).await.unwrap();
    assert_eq!(cancelling.status, "cancelling");
    let done = loop {
        let batch = client.batch(&created.id).await.unwrap();
        if batch.is_finished() {
            break batch;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(done.status, "cancelled");
    assert!(done.request_counts.unwrap().completed < 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_and_model_deletion() {
    let (server, client) = setup().await;
    let embeddings = client
        .embeddings(&EmbeddingRequest::new(EMBED, ["first text", "second"]))
        .await
        .unwrap();
    assert_eq!(embeddings.data.len(), 2);
    assert_eq!(embeddings.data[1].index, 1);
    let norm: f32 = embeddings.data[0].embedding.iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-4);
    let deleted = client.delete_model(MODEL).await.unwrap();
    assert!(deleted.deleted);
    let again = client.delete_model(MODEL).await.unwrap_err();
    assert_eq!(again.status(), Some(404));
    assert_eq!(again.kind(), ErrorKind::ModelNotFound);
    server.shutdown().await;
}
