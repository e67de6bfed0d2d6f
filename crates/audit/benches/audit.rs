//! The work every audited mutation adds: canonical JSON and two SHA-256 digests.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use yrd_audit::{canonical_json, sha256_hex};

fn chain(c: &mut Criterion) {
    let change = json!({
        "task": "2-07", "status": "submitted", "percent": 65,
        "narrative": {"zh": "完成跨省通办事项清单梳理", "en": "Inventory of trans-provincial services completed"},
        "evidence": [{"name": "清单.pdf", "sha256": "9f2b…"}], "jurisdiction": "320500"
    });
    c.bench_function("canonical_json (typical change)", |b| {
        b.iter(|| canonical_json(black_box(&change)))
    });
    let canonical = canonical_json(&change);
    c.bench_function("sha256 (typical change)", |b| {
        b.iter(|| sha256_hex(black_box(canonical.as_bytes())))
    });
}

criterion_group!(benches, chain);
criterion_main!(benches);
