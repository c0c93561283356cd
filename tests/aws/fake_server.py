#!/usr/bin/env python3
"""A scripted local HTTP server for the aws/ tests: EC2 IMDSv2, container credentials and
AWS-style answers for the retry tests.  Listens on 127.0.0.1 on a free port and writes the port to
the file named by --port-file; stops by itself after --lifetime seconds.

Credentials it hands out come from the environment (FAKE_AKID, FAKE_SECRET, FAKE_TOKEN) so the
C test knows the secret it must never see in a log line.
"""
import argparse
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IMDS_TOKEN = "imds-session-token-1"
ROLE = "mskpki-test-role"
COUNTS = {}
LOCK = threading.Lock()


def creds_doc(extra=None):
    doc = {
        "AccessKeyId": os.environ.get("FAKE_AKID", "ASIAFAKEFAKEFAKE"),
        "SecretAccessKey": os.environ.get("FAKE_SECRET", "fake-secret"),
        "Token": os.environ.get("FAKE_TOKEN", "fake-token"),
        "Expiration": os.environ.get("FAKE_EXPIRATION", "2099-01-01T00:00:00Z"),
    }
    doc.update(extra or {})
    return doc


def bump(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the C test reads only its own output
        pass

    def answer(self, status, body, ctype="application/json", headers=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def rest_echo(self, body, auth):
        return self.answer(200, json.dumps({
            "method": self.command,
            "path": self.path,
            "content_type": self.headers.get("Content-Type"),
            "signed": auth.split("SignedHeaders=")[1].split(",")[0] if auth else "",
            "body": body.decode(),
        }))

    def do_DELETE(self):
        body = self.body()
        bump("DELETE " + self.path)
        return self.rest_echo(body, self.headers.get("Authorization", ""))

    # IMDSv2
    def do_PUT(self):
        self.body()
        if self.path == "/latest/api/token" and \
                self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            bump("imds-token")
            return self.answer(200, IMDS_TOKEN, "text/plain")
        return self.answer(400, "bad token request", "text/plain")

    def do_GET(self):
        bump("GET " + self.path)
        if self.path.startswith("/latest/meta-data/iam/security-credentials/"):
            if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                return self.answer(401, "", "text/plain")
            rest = self.path[len("/latest/meta-data/iam/security-credentials/"):]
            if rest == "":
                return self.answer(200, ROLE + "\n", "text/plain")
            if rest == ROLE:
                return self.answer(200, json.dumps(creds_doc({"Code": "Success"})))
            return self.answer(404, "", "text/plain")
        if self.path.startswith("/container-creds"):
            want = os.environ.get("FAKE_CONTAINER_AUTH")
            if want is not None and self.headers.get("Authorization") != want:
                return self.answer(403, json.dumps({"message": "bad authorization"}))
            doc = creds_doc()
            if "exp=near" in self.path:
                # Inside the 5-minute refresh window: every use must fetch again.
                near = time.gmtime(time.time() + 120)
                doc["Expiration"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", near)
            if "broken" in self.path:
                return self.answer(200, "{\"AccessKeyId\": ")
            return self.answer(200, json.dumps(doc))
        if self.path.startswith("/v1/echo"):
            return self.rest_echo(b"", self.headers.get("Authorization", ""))
        if self.path == "/counts":
            with LOCK:
                return self.answer(200, json.dumps(COUNTS))
        return self.answer(404, json.dumps({"message": "no route"}))

    def do_POST(self):
        body = self.body()
        target = self.headers.get("X-Amz-Target", "")
        n = bump(target or self.path)
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 Credential="):
            return self.answer(403, json.dumps({"__type": "MissingAuthenticationTokenException",
                                                "message": "no signature"}))
        if target == "Test.Throttle429":
            if n <= 2:
                return self.answer(429, json.dumps({"__type": "ThrottlingException",
                                                    "message": "Rate exceeded"}))
            return self.answer(200, json.dumps({"ok": True, "attempts": n}))
        if target == "Test.Throttle400":
            if n <= 1:
                return self.answer(400, json.dumps(
                    {"__type": "com.amazonaws.kms#ThrottlingException", "message": "slow down"}))
            return self.answer(200, json.dumps({"ok": True, "attempts": n}))
        if target == "Test.Error500":
            if n <= 1:
                return self.answer(500, json.dumps({"message": "internal"}))
            return self.answer(200, json.dumps({"ok": True, "attempts": n}))
        if target == "Test.AlwaysThrottle":
            return self.answer(400, json.dumps({"message": "Rate exceeded"}),
                               headers={"x-amzn-ErrorType": "ThrottlingException:http://x/"})
        if target == "Test.Expired":
            if n <= 1:
                return self.answer(400, json.dumps({"__type": "ExpiredTokenException",
                                                    "message": "The security token expired"}))
            return self.answer(200, json.dumps({"ok": True, "attempts": n}))
        if target == "Test.SigMismatch":
            # Like AWS: the message goes on with the canonical request, token included.
            canon = "POST\n/\n\nx-amz-security-token:" + \
                self.headers.get("X-Amz-Security-Token", "") + "\n"
            return self.answer(400, json.dumps({
                "__type": "InvalidSignatureException",
                "message": "The request signature we calculated does not match the signature "
                           "you provided.\n\nThe Canonical String for this request should have "
                           "been\n'" + canon + "'"}))
        if target == "Test.AccessDenied":
            return self.answer(400, json.dumps({"__type": "AccessDeniedException",
                                                "Message": "User is not authorized"}))
        if target == "Test.Malformed":
            return self.answer(200, "{\"ok\": tru")
        if target == "Test.Slow":
            time.sleep(float(os.environ.get("FAKE_SLOW_SECONDS", "3")))
            return self.answer(200, json.dumps({"ok": True}))
        if target == "Test.Empty":
            return self.answer(200, "")
        if target == "Test.Echo":
            return self.answer(200, json.dumps({
                "content_type": self.headers.get("Content-Type"),
                "target": target,
                "has_token": self.headers.get("X-Amz-Security-Token") is not None,
                "signed": auth.split("SignedHeaders=")[1].split(",")[0],
                "body": body.decode(),
            }))
        if self.path.startswith("/v1/echo"):
            return self.rest_echo(body, auth)
        if self.path == "/" and target == "":
            # Query protocol: an XML error answer.
            return self.answer(400, "<ErrorResponse><Error><Type>Sender</Type>"
                               "<Code>InvalidParameterValue</Code><Message>bad value</Message>"
                               "</Error><RequestId>r-1</RequestId></ErrorResponse>", "text/xml")
        return self.answer(400, json.dumps({"__type": "UnknownOperationException"}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--lifetime", type=float, default=120)
    ap.add_argument("--cert", help="serve HTTPS with this PEM certificate (and --key)")
    ap.add_argument("--key")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    threading.Timer(args.lifetime, srv.shutdown).start()
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
