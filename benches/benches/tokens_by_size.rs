//! Token counting throughput against text size, for both encodings groqchat uses
//! (`cl100k_base` for Llama-family models, `o200k_base` for gpt-oss). The crate's own bench
//! (`crates/groq-tokens/benches/tokens.rs`) measures one 100 KB text and whole chat requests;
//! this one shows how the cost scales from a one-line prompt to a long document.
//!
//! Run with `cargo bench -p groqchat-benches --bench tokens_by_size`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use groq_tokens::{TiktokenCounter, TokenCounter};
use groqchat_benches::workload::prose;

const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];

fn count_by_size(c: &mut Criterion) {
    let counter = TiktokenCounter::new();
    counter.preload();
    let mut group = c.benchmark_group("tokens_by_size");
    for (encoding, model) in [
        ("cl100k_base", "llama-3.1-8b-instant"),
        ("o200k_base", "openai/gpt-oss-20b"),
    ] {
        for size in SIZES {
            let text = prose(size, size as u64);
            group.throughput(Throughput::Bytes(text.len() as u64));
            group.bench_with_input(BenchmarkId::new(encoding, size), &text, |b, text| {
                b.iter(|| counter.count_text(black_box(model), black_box(text)));
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = count_by_size
}
criterion_main!(benches);
