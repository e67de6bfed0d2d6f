"""Verify a YRD e-licence with an independent JOSE implementation (jwcrypto).

Usage: python verify_licence.py TRUST_BUNDLE.json LICENCE_FILE
Exit status 0 when the signature verifies with the key the licence names, 1 otherwise.
Checks what a JOSE library can: the EdDSA signature by the issuer's published key, the
header, and that the key belongs to the credential's issuer.
"""
import json
import sys

from jwcrypto import jwk, jws
from jwcrypto.common import json_decode


def main(bundle_path, licence_path, quiet=False):
    say = (lambda *_: None) if quiet else print
    bundle = json.load(open(bundle_path, encoding="utf-8"))
    token = open(licence_path, encoding="utf-8").read().strip()
    parsed = jws.JWS()
    try:
        parsed.deserialize(token)
    except Exception as error:  # malformed input is a refusal, not a crash
        say(f"NOT VALID: {error}")
        return 1
    header = parsed.jose_header
    kid = header.get("kid")
    entry = next((k for k in bundle["keys"] if k["kid"] == kid), None)
    if entry is None:
        say(f"NOT VALID: unknown key {kid}")
        return 1
    key = jwk.JWK(**{k: v for k, v in entry["jwk"].items() if k in ("kty", "crv", "x", "kid")})
    try:
        parsed.verify(key, alg="EdDSA")
    except Exception as error:
        say(f"NOT VALID: {error}")
        return 1
    credential = json_decode(parsed.payload)
    if credential.get("issuer") != f"urn:yrd:issuer:{entry['issuer']}":
        say("NOT VALID: the key does not belong to the credential's issuer")
        return 1
    say(f"VALID (jwcrypto): {header.get('typ')} signed by {kid} for {credential['issuer']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
