//! Checks every request makes: parsing a code and testing it against scopes.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use yrd_kernel::{JurisdictionCode, Scope};

fn jurisdictions(c: &mut Criterion) {
    c.bench_function("JurisdictionCode::parse (known)", |b| {
        b.iter(|| JurisdictionCode::parse(black_box("320509")))
    });
    c.bench_function("JurisdictionCode::parse (unknown)", |b| {
        b.iter(|| JurisdictionCode::parse(black_box("110000")))
    });
    let scopes: Vec<Scope> = ["31", "3205", "33", "3401"]
        .iter()
        .map(|s| Scope::parse(s).unwrap())
        .collect();
    let code = JurisdictionCode::parse("340100").unwrap();
    c.bench_function("Scope::covers over 4 grants", |b| {
        b.iter(|| scopes.iter().any(|scope| scope.covers(black_box(code))))
    });
}

criterion_group!(benches, jurisdictions);
criterion_main!(benches);
