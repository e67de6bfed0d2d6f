"""A case from a window in Anhui to a decision in Shanghai, through the HTTP API, then
its e-licence verified three ways: by the platform's API, by `yrd licence verify`
offline, and by jwcrypto. Altering any byte of the licence must make all three refuse.

Usage: python licence_walk.py BASE_URL YRD_BINARY DB ANHUI_TOKEN SHANGHAI_TOKEN WORKDIR
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

from verify_licence import main as jwcrypto_verify

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def call(base, method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read().decode() or "null")


def expect(condition, message):
    if not condition:
        print(f"FAILED: {message}")
        sys.exit(1)


def main(base, binary, db, anhui, shanghai, workdir):
    consent = hashlib.sha256(b"consent form signed at Hefei window").hexdigest()
    status, submitted = call(base, "POST", "/api/v1/govservice/cases", anhui, {
        "item": "YRD-GS-001", "applicant_name": "上海某某贸易有限公司", "applicant_contact": "13800000000",
        "home": "310100", "channel": "remote_window", "window": "AH-HF-01", "consent_sha256": consent})
    expect(status == 201, f"submit at the Hefei window: {status} {submitted}")
    number = submitted["number"]
    expect(submitted["authority"] == "310000", f"decided in Shanghai: {submitted}")
    scan = b"%PDF-1.4\n% scanned at Hefei\n"
    status, _ = call(base, "POST", f"/api/v1/govservice/cases/{number}/attachments", anhui, {
        "name": "变更登记申请书.pdf", "media_type": "application/pdf", "content_base64": base64.b64encode(scan).decode()})
    expect(status == 201, "scanned material uploaded")
    for token, action, role in [(anhui, "accept", "intake_clerk"), (shanghai, "start_review", "authority")]:
        status, body = call(base, "POST", f"/api/v1/govservice/cases/{number}/actions", token, {"action": action, "role": role})
        expect(status == 200, f"{action}: {status} {body}")
    for role in ["intake_clerk", "authority"]:
        status, body = call(base, "POST", f"/api/v1/govservice/cases/{number}/actions", anhui, {"action": "approve", "role": role})
        expect(status == 403, f"the Anhui window cannot decide as {role}: {status} {body}")
    status, body = call(base, "POST", f"/api/v1/govservice/cases/{number}/actions", shanghai, {"action": "approve", "role": "authority"})
    expect(status == 200, f"approve: {status} {body}")
    status, issued = call(base, "POST", f"/api/v1/govservice/cases/{number}/licence", shanghai, {"subject": {"name": "上海某某贸易有限公司", "uscc": "91310115MA1K000000"}})
    expect(status == 201, f"licence issued: {status} {issued}")
    licence = issued["token"]
    status, case = call(base, "GET", f"/api/v1/govservice/cases/{number}", shanghai)
    expect(case["case"]["state"] == "result_delivered", f"delivered: {case['case']['state']}")
    expect(case["review_notes"] is not None, "the authority sees its review notes")
    status, case = call(base, "GET", f"/api/v1/govservice/cases/{number}", anhui)
    expect(status == 200 and case["review_notes"] is None, "the Anhui window does not see Shanghai's review notes")

    status, bundle = call(base, "GET", "/api/v1/govservice/trust-bundle")
    bundle_path = os.path.join(workdir, "trust.json")
    json.dump(bundle, open(bundle_path, "w", encoding="utf-8"))
    licence_path = os.path.join(workdir, "licence.jws")

    def three_ways(token):
        open(licence_path, "w", encoding="utf-8").write(token)
        api = call(base, "POST", "/api/v1/govservice/licences/verify", None, {"token": token})[1]["valid"]
        cli = subprocess.run([binary, "--db", db, "--log", "warn", "licence", "verify", licence_path, "--trust", bundle_path],
                             capture_output=True).returncode == 0
        jose = jwcrypto_verify(bundle_path, licence_path, quiet=True) == 0
        return api, cli, jose

    expect(three_ways(licence) == (True, True, True), "the licence verifies by the API, the CLI and jwcrypto")
    altered = 0
    for i, char in enumerate(licence):
        if char == ".":
            continue
        flipped = B64URL[B64URL.index(char) ^ 0b100000]
        result = three_ways(licence[:i] + flipped + licence[i + 1:])
        expect(result == (False, False, False), f"byte {i} altered: API/CLI/jwcrypto said {result}")
        altered += 1
    print(f"case {number}: Hefei window -> Shanghai decision -> e-licence; valid three ways; "
          f"{altered} single-byte alterations refused by all three")


if __name__ == "__main__":
    main(*sys.argv[1:7])
