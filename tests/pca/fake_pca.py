#!/usr/bin/env python3
"""A small fake of the AWS Private CA JSON 1.1 API for what moto cannot show.

Usage: fake_pca.py PORT STATE_DIR

PORT 0 lets the kernel pick the port (no race with other tests for a free one); the port bound is
written to STATE_DIR/port (atomically) once the socket listens, whatever PORT was.

It signs CSRs for real (root -> intermediate -> leaf, EC P-256), and misbehaves on request.
Behaviour comes from STATE_DIR/config.json, re-read on every request; writing a new config
resets the counters (issued certificates stay).  After every request STATE_DIR/stats.json is replaced with
  {"calls": {"IssueCertificate": 1, ...}, "last": {"IssueCertificate": {request body}, ...}}
config.json fields (all optional):
  "in_progress": N        GetCertificate answers RequestInProgressException N times, -1 = always
  "throttle": {"Op": N}   Op answers ThrottlingException N times, -1 = always
  "errors": {"Op": "Code"}   Op always answers that AWS error code (HTTP 400)
  "malformed": ["Op"]     Op answers HTTP 200 with a body that is not JSON
  "garbage_certificate": true   GetCertificate's Certificate is not PEM
  "describe": {...}       fields merged into DescribeCertificateAuthority's CertificateAuthority;
                          "NotAfterIn": seconds from now replaces NotAfter
Faults for tests/reliability/ (each keyed by operation; N = times, -1 = always):
  "status": {"Op": [HTTP, "Code", N]}  answer HTTP status with {"__type": Code} (429, 500, 503...)
  "body": {"Op": "Kind"}   HTTP 200 with a bad body: "malformed" (not JSON), "truncated" (JSON cut
                          off, right Content-Length), "empty" (no body), "cut" (Content-Length
                          promises more than is sent, then the connection closes)
  "delay": {"Op": S}      sleep S seconds before answering (outside the lock)
  "bad_issue": "Kind"     IssueCertificate stores a bad certificate under the new ARN, which keeps
                          answering it after the fault is lifted (as AWS would): "wrong_key" (for
                          another key), "expired", "other_ca" (issued by another CA, with its
                          chain), "bad_chain" (a forged intermediate that does not verify the leaf)
stats.json also holds "times": {"Op": [unix seconds of each request]}.
Requests must carry X-Amz-Target "ACMPrivateCA.<Op>" and a SigV4 Authorization for acm-pca.
"""

import base64
import datetime
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_ARN = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/fake"
STATE = sys.argv[2] if len(sys.argv) > 2 else "."
LOCK = threading.Lock()
NOW = datetime.datetime.now(datetime.timezone.utc)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def ca_cert(subject, key, issuer, issuer_key, days):
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(hours=1))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(issuer_key, hashes.SHA256())
    )


ROOT_KEY = ec.generate_private_key(ec.SECP256R1())
ROOT = ca_cert(name("fake pca root"), ROOT_KEY, name("fake pca root"), ROOT_KEY, 3650)
SUB_KEY = ec.generate_private_key(ec.SECP256R1())
SUB = ca_cert(name("fake pca issuing CA"), SUB_KEY, ROOT.subject, ROOT_KEY, 1825)
# Another CA (for "other_ca") and a forged intermediate with SUB's name but another key.
OTHER_ROOT_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_ROOT = ca_cert(name("other root"), OTHER_ROOT_KEY, name("other root"), OTHER_ROOT_KEY, 3650)
OTHER_SUB_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_SUB = ca_cert(name("other issuing CA"), OTHER_SUB_KEY, OTHER_ROOT.subject, OTHER_ROOT_KEY,
                    1825)
FORGED_SUB = ca_cert(SUB.subject, ec.generate_private_key(ec.SECP256R1()), ROOT.subject, ROOT_KEY,
                     1825)


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class State:
    def __init__(self):
        self.config_text = None
        self.config = {}
        self.issued = {}  # certificate ARN -> PEM; survives config changes
        self.chains = {}  # certificate ARN -> chain PEM when not the genuine one
        self.reset()

    def reset(self):
        self.calls = {}
        self.last = {}
        self.seen = {}  # per-op count of requests answered under the current config
        self.times = {}

    def load(self):
        try:
            with open(os.path.join(STATE, "config.json")) as f:
                text = f.read()
        except FileNotFoundError:
            text = "{}"
        if text != self.config_text:
            self.config_text = text
            self.config = json.loads(text or "{}")
            self.reset()

    def save(self):
        tmp = os.path.join(STATE, "stats.json.tmp")
        with open(tmp, "w") as f:
            json.dump({"calls": self.calls, "last": self.last, "times": self.times}, f)
        os.replace(tmp, os.path.join(STATE, "stats.json"))


S = State()


class AwsError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code = code
        self.status = status


def times_left(spec, op, seen):
    """Whether rule spec (N or -1) still applies on the seen-th call of op."""
    n = spec.get(op) if isinstance(spec, dict) else spec
    if n is None:
        return False
    return n < 0 or seen <= n


def issue(body):
    for field in ("CertificateAuthorityArn", "Csr", "SigningAlgorithm", "Validity"):
        if field not in body:
            raise AwsError("ValidationException", f"{field} is required")
    if body["CertificateAuthorityArn"] != CA_ARN:
        raise AwsError("ResourceNotFoundException", "no such CA")
    try:
        csr_pem = base64.b64decode(body["Csr"], validate=True)
        csr = x509.load_pem_x509_csr(csr_pem)
    except Exception as e:  # noqa: BLE001 - any decoding problem is the same API error
        raise AwsError("MalformedCSRException", f"Csr is not base64 of a PEM CSR: {e}")
    if not csr.is_signature_valid:
        raise AwsError("MalformedCSRException", "CSR signature does not verify")
    # As AWS: the signing algorithm family must be the CA key's (EC here), not the CSR key's.
    if not body["SigningAlgorithm"].endswith("WITHECDSA"):
        raise AwsError(
            "ValidationException",
            f"SigningAlgorithm {body['SigningAlgorithm']} does not match the CA key (EC)",
        )
    validity = body["Validity"]
    if validity.get("Type") == "ABSOLUTE":
        end = datetime.datetime.fromtimestamp(validity["Value"], datetime.timezone.utc)
    elif validity.get("Type") == "DAYS":
        end = NOW + datetime.timedelta(days=validity["Value"])
    else:
        raise AwsError("ValidationException", f"unsupported Validity {validity}")
    now = datetime.datetime.now(datetime.timezone.utc)
    bad = S.config.get("bad_issue")
    start = now - datetime.timedelta(minutes=1)
    issuer, issuer_key, public_key, chain = SUB, SUB_KEY, csr.public_key(), None
    if bad == "wrong_key":
        public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    elif bad == "expired":
        start, end = now - datetime.timedelta(days=2), now - datetime.timedelta(days=1)
    elif bad == "other_ca":
        issuer, issuer_key, chain = OTHER_SUB, OTHER_SUB_KEY, pem(OTHER_SUB) + pem(OTHER_ROOT)
    elif bad == "bad_chain":
        chain = pem(FORGED_SUB) + pem(ROOT)
    elif bad is not None:
        raise AwsError("ValidationException", f"fake: unknown bad_issue {bad!r}")
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
        )
    )
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        builder = builder.add_extension(san.value, False)
    except x509.ExtensionNotFound:
        pass
    cert = builder.sign(issuer_key, hashes.SHA256())
    arn = f"{CA_ARN}/certificate/{len(S.issued) + 1:032x}"
    S.issued[arn] = pem(cert)
    if chain is not None:
        S.chains[arn] = chain
    return {"CertificateArn": arn}


def get_certificate(body):
    arn = body.get("CertificateArn")
    if S.config.get("garbage_certificate"):
        return {"Certificate": "this is not a certificate", "CertificateChain": pem(SUB)}
    if arn not in S.issued:
        raise AwsError("ResourceNotFoundException", f"no certificate {arn}")
    # Deliberately root first: the client must order the chain issuer first itself.
    return {"Certificate": S.issued[arn],
            "CertificateChain": S.chains.get(arn, pem(ROOT) + pem(SUB))}


def describe(body):
    ca = {
        "Arn": CA_ARN,
        "Status": "ACTIVE",
        "Type": "SUBORDINATE",
        "UsageMode": "GENERAL_PURPOSE",
        "CertificateAuthorityConfiguration": {
            "KeyAlgorithm": "EC_prime256v1",
            "SigningAlgorithm": "SHA256WITHECDSA",
            "Subject": {"CommonName": "fake pca issuing CA"},
        },
        "NotBefore": SUB.not_valid_before_utc.timestamp(),
        "NotAfter": SUB.not_valid_after_utc.timestamp(),
    }
    over = dict(S.config.get("describe", {}))
    if "NotAfterIn" in over:
        ca["NotAfter"] = time.time() + over.pop("NotAfterIn")
    ca.update(over)
    return {"CertificateAuthority": ca}


def ca_certificate(body):
    return {"Certificate": pem(SUB), "CertificateChain": pem(ROOT)}


def revoke(body):
    for field in ("CertificateAuthorityArn", "CertificateSerial", "RevocationReason"):
        if field not in body:
            raise AwsError("ValidationException", f"{field} is required")
    return {}


# "cut" is recognised by identity in answer(): it sends less than its Content-Length.
CUT = b'{"CertificateArn": "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/fake"}'
BODIES = {
    "malformed": b"<html>this is not JSON</html>",
    "truncated": b'{"CertificateArn": "arn:aws:acm-pca:us-east-1:1234',
    "empty": b"",
    "cut": CUT,
}

OPS = {
    "IssueCertificate": issue,
    "GetCertificate": get_certificate,
    "DescribeCertificateAuthority": describe,
    "GetCertificateAuthorityCertificate": ca_certificate,
    "RevokeCertificate": revoke,
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the test output is for the test
        pass

    def answer(self, status, payload, raw=None):
        data = raw if raw is not None else json.dumps(payload).encode()
        length = len(data)
        if raw is CUT:
            data, length = raw[:-1], len(raw) + 100
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(length))
        self.send_header("x-amzn-RequestId", "fake-request")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        target = self.headers.get("X-Amz-Target", "")
        op = target.split(".", 1)[1] if target.startswith("ACMPrivateCA.") else None
        with LOCK:
            S.load()
            delay = S.config.get("delay", {}).get(op, 0)
        if delay:
            time.sleep(delay)  # outside the lock: other requests go on
        with LOCK:
            S.load()
            status, payload, body_bytes = self.handle_op(op, target, raw)
            # Stats are on disk before the answer leaves, so the test never reads stale counts.
            S.save()
        self.answer(status, payload, raw=body_bytes)

    def handle_op(self, op, target, raw):
        try:
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("AWS4-HMAC-SHA256 ") or "/acm-pca/aws4_request" not in auth:
                raise AwsError("InvalidSignatureException", "not SigV4 for acm-pca", 403)
            if op not in OPS:
                raise AwsError("UnknownOperationException", f"unknown target {target!r}")
            body = json.loads(raw or b"{}")
            S.calls[op] = S.calls.get(op, 0) + 1
            S.last[op] = body
            S.seen[op] = S.seen.get(op, 0) + 1
            S.times.setdefault(op, []).append(time.time())
            seen = S.seen[op]
            cfg = S.config
            if op in cfg.get("status", {}):
                http, code, n = cfg["status"][op]
                if n < 0 or seen <= n:
                    raise AwsError(code, f"{op} fails with HTTP {http} by configuration", http)
            if op in cfg.get("body", {}):
                return 200, None, BODIES[cfg["body"][op]]
            if op in cfg.get("errors", {}):
                raise AwsError(cfg["errors"][op], f"{op} fails by configuration")
            if times_left(cfg.get("throttle", {}), op, seen):
                raise AwsError("ThrottlingException", "Rate exceeded")
            if op in cfg.get("malformed", []):
                return 200, None, b'{"CertificateArn": <<not json'
            if op == "GetCertificate" and times_left(cfg.get("in_progress", 0), op, seen):
                raise AwsError("RequestInProgressException", "The request is in progress")
            return 200, OPS[op](body), None
        except AwsError as e:
            return e.status, {"__type": e.code, "message": str(e)}, None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    port_file = os.path.join(sys.argv[2], "port")
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
