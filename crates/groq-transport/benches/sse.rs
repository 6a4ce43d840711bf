//! SSE decoding throughput over a realistic Groq chat-completion stream: many small
//! `data: {chunk json}` events, delivered in network-sized reads.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use groq_transport::SseDecoder;

/// About 2,000 content chunks followed by a usage chunk and `[DONE]`, as Groq streams them.
fn groq_stream() -> Vec<u8> {
    let mut out = String::new();
    out.push_str(
        "data: {\"id\":\"chatcmpl-0b5f\",\"object\":\"chat.completion.chunk\",\"created\":1730000000,\
         \"model\":\"llama-3.1-8b-instant\",\"system_fingerprint\":\"fp_9cb648b966\",\"choices\":\
         [{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\
         \"finish_reason\":null}],\"x_groq\":{\"id\":\"req_01jbd6g2qdfw2adyrt2az8hz4w\"}}\n\n",
    );
    let words = [
        "The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".",
    ];
    for i in 0..2000 {
        let word = words[i % words.len()];
        out.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-0b5f\",\"object\":\"chat.completion.chunk\",\"created\":1730000000,\
             \"model\":\"llama-3.1-8b-instant\",\"system_fingerprint\":\"fp_9cb648b966\",\"choices\":\
             [{{\"index\":0,\"delta\":{{\"content\":\"{word}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        ));
    }
    out.push_str(
        "data: {\"id\":\"chatcmpl-0b5f\",\"object\":\"chat.completion.chunk\",\"created\":1730000000,\
         \"model\":\"llama-3.1-8b-instant\",\"system_fingerprint\":\"fp_9cb648b966\",\"choices\":\
         [{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"x_groq\":\
         {\"id\":\"req_01jbd6g2qdfw2adyrt2az8hz4w\",\"usage\":{\"queue_time\":0.02,\
         \"prompt_tokens\":18,\"prompt_time\":0.001,\"completion_tokens\":2000,\
         \"completion_time\":2.1,\"total_tokens\":2018,\"total_time\":2.101}}}\n\n",
    );
    out.push_str("data: [DONE]\n\n");
    out.into_bytes()
}

fn decode(stream: &[u8], read_size: usize) -> usize {
    let mut decoder = SseDecoder::new();
    let mut events = 0;
    for chunk in stream.chunks(read_size) {
        decoder.push(chunk);
        while let Ok(Some(event)) = decoder.next_event() {
            black_box(&event);
            events += 1;
        }
    }
    events
}

fn sse_decoding(c: &mut Criterion) {
    let stream = groq_stream();
    assert_eq!(decode(&stream, 4096), 2003, "every event is decoded");
    let mut group = c.benchmark_group("sse_decode");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Bytes(
            u64::try_from(stream.len()).unwrap_or(u64::MAX),
        ));
    // 16 KiB: TLS-record-sized reads; 1 KiB: small reads that split most events.
    for read_size in [16 * 1024, 1024] {
        group.bench_function(format!("groq_stream/{read_size}B_reads"), |b| {
            b.iter(|| decode(black_box(&stream), read_size));
        });
    }
    group.finish();
}

criterion_group!(benches, sse_decoding);
criterion_main!(benches);
