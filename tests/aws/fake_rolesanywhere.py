#!/usr/bin/env python3
"""A fake IAM Roles Anywhere CreateSession endpoint that checks the signature on its own.

It rebuilds the canonical request from what arrived (SignedHeaders, the body's SHA-256), the
string to sign (AWS4-X509-ECDSA-SHA256 / AWS4-X509-RSA-SHA256, scope DATE/REGION/rolesanywhere/
aws4_request), and verifies the signature with the public key of the X-Amz-X509 leaf using the
`cryptography` package, not our C code.  It also checks that the Credential's first field is the
leaf's serial in decimal, that X-Amz-Date is within 5 minutes of its own clock (which --skew
shifts, and its Date header shows), and that the leaf chains (through X-Amz-X509-Chain) to a
certificate of --trust.  Refusals look like the service's: 403 with x-amzn-ErrorType
AccessDeniedException and {"message": ...}.

Any other request is forwarded unchanged to --forward (moto) when given, and the access key id
of its Authorization header is recorded: this is the "recording proxy" that shows which
credentials signed each IssueCertificate.  Every event is one JSON line in --log.

Listens on 127.0.0.1 on a free port and writes the port to --port-file.
"""
import argparse
import base64
import datetime
import email.utils
import hashlib
import json
import re
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

ARGS = None
LOCK = threading.Lock()
COUNTER = [0]
AUTH_RE = re.compile(r"^(AWS4-X509-(?:ECDSA|RSA)-SHA256) Credential=([^,]+), "
                     r"SignedHeaders=([^,]+), Signature=([0-9a-f]+)$")


def log(event):
    with LOCK:
        with open(ARGS.log, "a") as f:
            f.write(json.dumps(event) + "\n")


def now():
    return time.time() + ARGS.skew


class Refused(Exception):
    def __init__(self, code, message, status=403):
        super().__init__(message)
        self.code = code
        self.status = status


def load_der(b64):
    try:
        return x509.load_der_x509_certificate(base64.b64decode(b64, validate=True))
    except Exception as e:  # noqa: BLE001 - any decoding problem is the client's fault
        raise Refused("ValidationException", f"malformed certificate: {e}", 400)


def verify_chain(leaf, chain, trust, at):
    """Walks leaf -> issuers (chain, then trust) checking each signature and validity."""
    cert = leaf
    pool = chain + trust
    for _ in range(8):
        when = datetime.datetime.fromtimestamp(at, datetime.timezone.utc)
        if not (cert.not_valid_before_utc <= when <= cert.not_valid_after_utc):
            raise Refused("AccessDeniedException", "Certificate expired or not yet valid")
        if any(cert == t for t in trust):
            return
        issuer = None
        for c in pool:
            if c.subject == cert.issuer:
                try:
                    cert.verify_directly_issued_by(c)
                except (ValueError, TypeError, InvalidSignature):
                    continue
                issuer = c
                break
        if issuer is None:
            raise Refused("AccessDeniedException", "Untrusted signing certificate")
        cert = issuer
    raise Refused("AccessDeniedException", "Untrusted signing certificate: chain too long")


def check(handler, body):
    h = {k.lower(): v for k, v in handler.headers.items()}
    m = AUTH_RE.match(h.get("authorization", ""))
    if not m:
        raise Refused("InvalidSignatureException", "malformed Authorization header", 400)
    alg, credential, signed, sig_hex = m.groups()
    cparts = credential.split("/")
    if len(cparts) != 5 or cparts[3] != "rolesanywhere" or cparts[4] != "aws4_request":
        raise Refused("InvalidSignatureException", "bad credential scope", 400)
    serial, date, region = cparts[0], cparts[1], cparts[2]
    names = signed.split(";")
    for need in ("content-type", "host", "x-amz-date", "x-amz-x509"):
        if need not in names:
            raise Refused("InvalidSignatureException", f"{need} not signed", 400)
    if "x-amz-x509-chain" in h and "x-amz-x509-chain" not in names:
        raise Refused("InvalidSignatureException", "x-amz-x509-chain not signed", 400)
    if names != sorted(names):
        raise Refused("InvalidSignatureException", "signed headers not sorted", 400)
    amz_date = h.get("x-amz-date", "")
    if not amz_date.startswith(date):
        raise Refused("InvalidSignatureException", "credential date is not x-amz-date's", 400)
    t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    if abs(t - now()) > 300:
        raise Refused("AccessDeniedException", "Signature expired or request date out of range")
    leaf = load_der(h["x-amz-x509"])
    chain = [load_der(c) for c in h.get("x-amz-x509-chain", "").split(",") if c]
    if str(leaf.serial_number) != serial:
        raise Refused("InvalidSignatureException", "credential serial is not the leaf's", 400)
    pub = leaf.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey) != (alg == "AWS4-X509-ECDSA-SHA256") or \
            not isinstance(pub, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise Refused("ValidationException", "algorithm does not match the key", 400)
    path = handler.path.split("?")[0]
    canon = "\n".join([
        handler.command, path, "",
        "".join(f"{n}:{' '.join(h[n].split())}\n" for n in names),
        signed, hashlib.sha256(body).hexdigest()])
    sts = "\n".join([alg, amz_date, f"{date}/{region}/rolesanywhere/aws4_request",
                     hashlib.sha256(canon.encode()).hexdigest()])
    sig = bytes.fromhex(sig_hex)
    try:
        if isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(sig, sts.encode(), ec.ECDSA(hashes.SHA256()))
        else:
            pub.verify(sig, sts.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise Refused("AccessDeniedException", "Invalid signature")
    verify_chain(leaf, chain, ARGS.trust_certs, now())
    req = json.loads(body)
    for k in ("profileArn", "roleArn", "trustAnchorArn"):
        if not isinstance(req.get(k), str):
            raise Refused("ValidationException", f"{k} is required", 400)
    if "disabled" in req["profileArn"]:
        raise Refused("AccessDeniedException", "Profile is disabled")
    if "denied" in req["roleArn"]:
        raise Refused("AccessDeniedException", "Unable to assume role for arn: "
                      + req["roleArn"])
    cn = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return {"serial": serial, "cn": cn[0].value if cn else "", "chain": len(chain),
            "alg": alg, "region": region, "duration": req.get("durationSeconds"),
            "session": req.get("roleSessionName")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def date_string(self):
        return email.utils.formatdate(now(), usegmt=True)

    def answer(self, status, doc, headers=None):
        data = json.dumps(doc).encode()
        self.send_response_only(status)
        self.send_header("Date", self.date_string())
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def do_POST(self):
        body = self.read_body()
        if self.path.split("?")[0] != "/sessions":
            return self.forward(body)
        try:
            info = check(self, body)
        except Refused as e:
            log({"event": "refused", "code": e.code, "message": str(e)})
            return self.answer(e.status, {"message": str(e)},
                               {"x-amzn-ErrorType": e.code + ":http://internal.amazon.com/"})
        with LOCK:
            COUNTER[0] += 1
            n = COUNTER[0]
        akid = f"{ARGS.akid_prefix}{n:06d}"
        exp = datetime.datetime.fromtimestamp(time.time() + ARGS.expires_in,
                                              datetime.timezone.utc)
        info.update({"event": "session", "akid": akid})
        log(info)
        self.answer(201, {"credentialSet": [{
            "assumedRoleUser": {"arn": "arn:aws:sts::111122223333:assumed-role/r/" + info["serial"],
                                "assumedRoleId": "AROAFAKE:" + info["serial"]},
            "credentials": {"accessKeyId": akid, "secretAccessKey": "raSecret" + str(n),
                            "sessionToken": "raToken" + str(n),
                            "expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "packedPolicySize": 0, "roleArn": "arn:aws:iam::111122223333:role/r",
            "sourceIdentity": "CN=" + info["cn"]}],
            "subjectArn": "arn:aws:rolesanywhere:eu-west-1:111122223333:subject/s"})

    def forward(self, body):
        auth = self.headers.get("Authorization", "")
        m = re.search(r"Credential=([A-Za-z0-9]+)/", auth)
        log({"event": "forward", "target": self.headers.get("X-Amz-Target", ""),
             "akid": m.group(1) if m else ""})
        if not ARGS.forward:
            return self.answer(404, {"message": "no such path"})
        req = urllib.request.Request(ARGS.forward + self.path, data=body, method="POST")
        for k, v in self.headers.items():
            if k.lower() not in ("host", "content-length", "connection"):
                req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, data, rh = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, data, rh = e.code, e.read(), e.headers
        self.send_response_only(status)
        for k, v in rh.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "server",
                                 "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--trust", required=True, help="PEM file of trust anchor certificates")
    p.add_argument("--log", required=True)
    p.add_argument("--skew", type=float, default=0.0, help="seconds added to this server's clock")
    p.add_argument("--akid-prefix", default="ASIAROLESANYWHERE")
    p.add_argument("--expires-in", type=int, default=3600)
    p.add_argument("--forward", default="", help="base URL to forward other requests to")
    p.add_argument("--lifetime", type=int, default=600)
    ARGS = p.parse_args()
    with open(ARGS.trust, "rb") as f:
        ARGS.trust_certs = x509.load_pem_x509_certificates(f.read())
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.replace(ARGS.port_file + ".tmp", ARGS.port_file)
    threading.Timer(ARGS.lifetime, srv.shutdown).start()
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
