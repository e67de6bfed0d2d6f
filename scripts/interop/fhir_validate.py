"""Every resource the FHIR endpoint returns, validated by an independent implementation:
the `fhir.resources` R4 (4.0.1) models. Crawls the demo data type by type and page by
page, reads versions and histories, runs $match, a transaction and a batch, provokes
errors for their OperationOutcomes, and fetches the CapabilityStatement. Then a
recognition decision is made and its JWS verified with jwcrypto against the published
key set.

Usage: python fhir_validate.py BASE_URL HOSPITAL_TOKEN PATIENT_TOKEN NATIONAL_ID
"""
import json
import sys
import urllib.error
import urllib.request

import fhir.resources
from fhir.resources import get_fhir_model_class
from jwcrypto import jwk, jws

assert fhir.resources.__fhir_version__ == "4.0.1", fhir.resources.__fhir_version__

TYPES = ["Patient", "Organization", "Practitioner", "Encounter", "Observation",
         "DiagnosticReport", "ImagingStudy", "Consent", "Provenance"]
checked = {}


def call(base, method, path, token=None, body=None, headers=None, content_type="application/fhir+json"):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(path if path.startswith("http") else base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request) as response:
            text = response.read().decode()
            return response.status, response.headers, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        return error.code, error.headers, (json.loads(text) if text else None)


def validate(resource, where):
    """Parses the resource with the R4 model of its type; any problem fails the run."""
    kind = resource.get("resourceType")
    try:
        get_fhir_model_class(kind).parse_obj(resource)
    except Exception as error:  # the model's error says what and where
        sys.exit(f"{where}: {kind} does not validate with fhir.resources R4:\n{error}\n{json.dumps(resource)[:2000]}")
    checked[kind] = checked.get(kind, 0) + 1
    for entry in resource.get("entry", []) if kind == "Bundle" else []:
        for key in ("resource",):
            if key in entry:
                validate(entry[key], where + " entry")
        outcome = entry.get("response", {}).get("outcome")
        if outcome:
            validate(outcome, where + " entry outcome")


def expect(status, got, body, where):
    if got != status:
        sys.exit(f"{where}: expected {status}, got {got}: {body}")


def main(base, token, patient_token, national_id):
    # Reading everything: an emergency override logged as such (this is a test database).
    override = {"X-Break-Glass-Reason": "interoperability check"}
    status, _, capability = call(base, "GET", "/fhir/metadata")
    expect(200, status, capability, "metadata")
    validate(capability, "metadata")
    advertised = [r["type"] for r in capability["rest"][0]["resource"]]
    assert advertised == TYPES, advertised

    samples = {}
    for kind in TYPES:
        url = f"/fhir/{kind}?_count=100"
        pages = 0
        while url:
            status, _, bundle = call(base, "GET", url, token, headers=override)
            expect(200, status, bundle, url)
            validate(bundle, url)
            pages += 1
            for entry in bundle.get("entry", []):
                samples.setdefault(kind, entry["resource"]["id"])
            url = next((l["url"] for l in bundle["link"] if l["relation"] == "next"), None)
        if kind not in ("Practitioner", "DiagnosticReport", "Encounter", "Provenance"):
            assert kind in samples, f"the demo has no {kind}"

    for kind, rid in samples.items():
        for path in (f"/fhir/{kind}/{rid}", f"/fhir/{kind}/{rid}/_history/1", f"/fhir/{kind}/{rid}/_history"):
            status, headers, body = call(base, "GET", path, token, headers=override)
            expect(200, status, body, path)
            validate(body, path)

    # $match, a transaction and a batch.
    match = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {
        "resourceType": "Patient", "identifier": [{"system": "urn:yrd:sid:national-id", "value": national_id}]}}]}
    status, _, body = call(base, "POST", "/fhir/Patient/$match", token, match)
    expect(200, status, body, "$match")
    validate(body, "$match")
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:5d0c3a6e-2b1f-4c8e-9a7d-3e4f5a6b7c8d", "request": {"method": "POST", "url": "Patient"},
         "resource": {"resourceType": "Patient", "name": [{"family": "Interop", "given": ["Check"]}], "gender": "other"}},
        {"request": {"method": "POST", "url": "Encounter"},
         "resource": {"resourceType": "Encounter", "status": "finished",
                      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                      "subject": {"reference": "urn:uuid:5d0c3a6e-2b1f-4c8e-9a7d-3e4f5a6b7c8d"},
                      "period": {"start": "2026-01-05T09:00:00+08:00", "end": "2026-01-05T09:20:00+08:00"}}},
        {"fullUrl": "urn:uuid:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "request": {"method": "POST", "url": "Practitioner"},
         "resource": {"resourceType": "Practitioner", "name": [{"family": "Interop"}],
                      "qualification": [{"code": {"text": "主治医师"}}]}},
        {"fullUrl": "urn:uuid:6e7f8a9b-0c1d-4e2f-8a3b-4c5d6e7f8a9b", "request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
                      "subject": {"reference": "urn:uuid:5d0c3a6e-2b1f-4c8e-9a7d-3e4f5a6b7c8d"},
                      "effectiveDateTime": "2026-01-05T09:10:00+08:00",
                      "valueQuantity": {"value": 71, "unit": "umol/L", "system": "http://unitsofmeasure.org", "code": "umol/L"}}},
        {"request": {"method": "POST", "url": "DiagnosticReport"},
         "resource": {"resourceType": "DiagnosticReport", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "24323-8", "display": "Comprehensive metabolic panel"}]},
                      "subject": {"reference": "urn:uuid:5d0c3a6e-2b1f-4c8e-9a7d-3e4f5a6b7c8d"},
                      "effectiveDateTime": "2026-01-05T09:10:00+08:00", "issued": "2026-01-05T02:00:00Z",
                      "performer": [{"reference": "urn:uuid:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}],
                      "result": [{"reference": "urn:uuid:6e7f8a9b-0c1d-4e2f-8a3b-4c5d6e7f8a9b"}],
                      "conclusion": "正常 normal"}},
        {"request": {"method": "POST", "url": "Provenance"},
         "resource": {"resourceType": "Provenance", "recorded": "2026-01-05T02:00:00.000Z",
                      "target": [{"reference": "urn:uuid:6e7f8a9b-0c1d-4e2f-8a3b-4c5d6e7f8a9b"}],
                      "agent": [{"who": {"reference": "urn:uuid:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}}]}},
    ]}
    status, _, body = call(base, "POST", "/fhir", token, transaction)
    expect(200, status, body, "transaction")
    validate(body, "transaction")
    created = [e["response"]["location"].split("/_history")[0] for e in body["entry"]]
    encounter = next(c for c in created if c.startswith("Encounter/"))
    for reference in created:  # every type, including those the demo has none of
        status, _, body = call(base, "GET", f"/fhir/{reference}", token)
        expect(200, status, body, reference)
        validate(body, reference)
    for kind in ("DiagnosticReport", "Provenance", "Practitioner"):
        assert checked.get(kind), f"no {kind} was validated"
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Organization?_count=2"}},
        {"request": {"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Patient", "gender": "nobody"}},
        {"request": {"method": "GET", "url": f"{encounter}"}},
    ]}
    status, _, body = call(base, "POST", "/fhir", token, batch)
    expect(200, status, body, "batch")
    validate(body, "batch")

    # Errors: each an OperationOutcome.
    errors = [
        ("POST", "/fhir/Observation", {"resourceType": "Observation"}, 400),
        ("GET", "/fhir/Specimen/1", None, 404),
        ("GET", "/fhir/Observation?colour=red", None, 400),
        ("POST", "/fhir/Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                        "subject": {"reference": "Patient/nobody"}}, 422),
        ("DELETE", f"/fhir/{encounter}", None, 405),
        ("POST", "/fhir", {"resourceType": "Bundle", "type": "batch",
                           "entry": [{"request": {"method": "GET", "url": "Patient"}}] * 201}, 413),
    ]
    for method, path, resource, code in errors:
        status, _, body = call(base, method, path, token, resource)
        expect(code, status, body, f"{method} {path}")
        validate(body, f"{method} {path} (error)")
    status, _, body = call(base, "GET", f"/fhir/{encounter}", None)
    expect(401, status, body, "no token")
    validate(body, "no token")

    # A recognition decision, verified with jwcrypto against the published key set.
    status, _, patient = call(base, "POST", "/fhir/Patient", token, {
        "resourceType": "Patient", "identifier": [{"system": "urn:yrd:sid:national-id", "value": national_id}]})
    expect(201, status, patient, "register the visiting patient")
    status, _, _ = call(base, "POST", "/api/v1/health/me/consents", patient_token, {"hospital": "h-310100"}, content_type="application/json")
    expect(201, status, None, "consent")
    status, _, results = call(base, "GET", f"/api/v1/health/patients/{patient['id']}/results", token)
    expect(200, status, results, "results")
    result = next(r for r in results if r["recognisable"])
    status, _, decision = call(base, "POST", "/api/v1/health/decisions", token, {
        "patient": patient["id"], "result": result["result"], "decision": "accepted"}, content_type="application/json")
    expect(201, status, decision, "decision")
    status, _, keys = call(base, "GET", "/api/v1/health/keys")
    key_set = jwk.JWKSet.from_json(json.dumps(keys))
    token_jws = jws.JWS()
    token_jws.deserialize(decision["jws"])
    token_jws.verify(key_set.get_key(keys["keys"][0]["kid"]), alg="EdDSA")
    claims = json.loads(token_jws.payload)
    assert claims["decision"] == "accepted" and claims["result"] == result["result"], claims
    forged = decision["jws"].split(".")
    forged[1] = forged[1][:-2] + ("AA" if forged[1][-2:] != "AA" else "BA")
    try:
        again = jws.JWS()
        again.deserialize(".".join(forged))
        again.verify(key_set.get_key(keys["keys"][0]["kid"]), alg="EdDSA")
        sys.exit("an altered decision verified")
    except jws.InvalidJWSSignature:
        pass

    total = sum(checked.values())
    print(f"fhir.resources R4 validated {total} resources: " + ", ".join(f"{k} {v}" for k, v in sorted(checked.items())))
    print("decision JWS verified with jwcrypto; an altered one is refused")


if __name__ == "__main__":
    main(*sys.argv[1:5])
