//! Property: any request built through the public builders survives a JSON round trip.

use groq_types::{ChatRequest, Message, ReasoningEffort, ServiceTier, Tool, ToolCall};
use proptest::prelude::*;

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        any::<String>().prop_map(Message::system),
        any::<String>().prop_map(Message::developer),
        any::<String>().prop_map(Message::user),
        any::<String>().prop_map(Message::assistant),
        (any::<String>(), any::<String>()).prop_map(|(id, c)| Message::tool(id, c)),
        ("[a-z_]{1,12}", any::<String>()).prop_map(|(name, args)| {
            Message::assistant_tool_calls(vec![ToolCall::new("call_1", name, args)])
        }),
    ]
}

prop_compose! {
    fn request()(
        model in "[a-z0-9./-]{1,40}",
        messages in prop::collection::vec(message(), 1..6),
        // Two decimals, as people write temperatures (JSON floats round-trip exactly at that precision).
        temperature in prop::option::of((0u32..=200).prop_map(|t| f64::from(t) / 100.0)),
        max_completion_tokens in prop::option::of(1u32..100_000),
        seed in prop::option::of(any::<i64>()),
        stream in prop::option::of(any::<bool>()),
        effort in prop::option::of(prop_oneof![Just(ReasoningEffort::Low), Just(ReasoningEffort::High)]),
        tier in prop::option::of(prop_oneof![Just(ServiceTier::Auto), Just(ServiceTier::OnDemand)]),
        tools in prop::collection::vec("[a-z_]{1,12}", 0..3),
    ) -> ChatRequest {
        let mut request = ChatRequest::new(model).messages(messages);
        if let Some(t) = temperature { request = request.temperature(t); }
        if let Some(m) = max_completion_tokens { request = request.max_completion_tokens(m); }
        if let Some(s) = seed { request = request.seed(s); }
        if let Some(s) = stream { request = request.stream(s); }
        if let Some(e) = effort { request = request.reasoning_effort(e); }
        if let Some(t) = tier { request = request.service_tier(t); }
        for name in tools {
            request = request.tool(Tool::function(name, "d", serde_json::json!({"type": "object"})));
        }
        request
    }
}

proptest! {
    #[test]
    fn request_round_trips(request in request()) {
        let json = serde_json::to_string(&request).unwrap();
        prop_assert_eq!(json.as_bytes(), &request.to_bytes()[..]);
        let back = ChatRequest::from_slice(json.as_bytes()).unwrap();
        prop_assert_eq!(&back, &request);
        prop_assert_eq!(&back.to_bytes()[..], json.as_bytes());
        prop_assert_eq!(back.params().messages.len(), request.params().messages.len());
        // Absent options never appear as nulls on the wire.
        prop_assert!(!json.contains(":null"));
    }
}
