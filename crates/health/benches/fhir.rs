//! Every FHIR write validates the resource and extracts its search index; every search
//! parses its parameters. These run per request, so they are measured.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use yrd_health::fhir::{search, validate};

fn benches(c: &mut Criterion) {
    let observation = json!({
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7", "display": "Hemoglobin"}], "text": "血红蛋白"},
        "subject": {"reference": "Patient/0dcf744956bc4776f957c756b28ae577"},
        "effectiveDateTime": "2026-11-25T09:30:00+08:00", "issued": "2026-11-25T03:00:00Z",
        "valueQuantity": {"value": 132, "unit": "g/L", "system": "http://unitsofmeasure.org", "code": "g/L"},
        "referenceRange": [{"low": {"value": 115, "unit": "g/L"}, "high": {"value": 150, "unit": "g/L"}}]
    });
    let imaging = json!({
        "resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/p1"},
        "started": "2026-10-29T09:30:00+08:00",
        "series": (0..8).map(|i| json!({"uid": format!("1.2.156.1.{i}"), "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"},
            "bodySite": {"system": "http://snomed.info/sct", "code": "51185008"},
            "instance": (0..20).map(|k| json!({"uid": format!("1.2.156.1.{i}.{k}"), "sopClass": {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}})).collect::<Vec<_>>()})).collect::<Vec<_>>()
    });
    c.bench_function("validate Observation (lab result)", |b| {
        b.iter(|| validate::validate(black_box(&observation)).unwrap())
    });
    c.bench_function("validate ImagingStudy (8 series × 20 instances)", |b| {
        b.iter(|| validate::validate(black_box(&imaging)).unwrap())
    });
    c.bench_function("index Observation", |b| {
        b.iter(|| search::index("Observation", black_box(&observation)))
    });
    let pairs: Vec<(String, String)> = [
        ("patient", "p1"),
        ("code", "http://loinc.org|718-7,2345-7"),
        ("date", "ge2026-11-01"),
        ("_count", "50"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    c.bench_function("parse an Observation search", |b| {
        b.iter(|| search::parse("Observation", black_box(&pairs)).unwrap())
    });
}

criterion_group!(fhir, benches);
criterion_main!(fhir);
