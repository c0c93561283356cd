#!/usr/bin/env python3
"""fake_aws.py: a recorded-answer stand-in for the AWS APIs, for what moto lacks.

moto has no AWS-managed KMS keys (every key is KeyManager CUSTOMER), no MSK pagination, no
AccessDenied answers and no per-region failures.  This server answers from a file of recorded
answers (tests/audit/recorded.json) shaped like the AWS API reference (field names checked against
botocore's service models): JSON 1.1 calls are matched on X-Amz-Target and body fields, REST-JSON
(MSK) calls on method, path and query parameters, Query (STS) calls on the form body's
parameters (an answer with "raw" is sent as is, for XML); the region comes from the SigV4
credential scope.

Usage: fake_aws.py RECORDED.json REQUEST_LOG  -- binds 127.0.0.1 on a free port, prints
"PORT <n>" on stdout, logs one JSON line per request to REQUEST_LOG, and runs until killed.
An unmatched request gets HTTP 400 UnrecordedRequest so a test sees it instead of a silent pass.
"""
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CRED_RE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


class Fake:
    def __init__(self, recorded_path, log_path):
        with open(recorded_path, encoding="utf-8") as f:
            self.answers = json.load(f)["answers"]
        self.log = open(log_path, "a", encoding="utf-8")
        self.lock = threading.Lock()

    def find(self, region, call, params):
        for a in self.answers:
            if a["region"] != region or a["call"] != call:
                continue
            ok = True
            for key, want in a.get("match", {}).items():
                if params.get(key) != want:
                    ok = False
                    break
            if ok:
                return a
        return None

    def record(self, entry):
        with self.lock:
            self.log.write(json.dumps(entry, sort_keys=True) + "\n")
            self.log.flush()


def make_handler(fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # keep the test output clean
            pass

        def _reply(self, status, body, headers=None, json_type="application/x-amz-json-1.1"):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", json_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _region_service(self):
            m = CRED_RE.search(self.headers.get("Authorization", ""))
            return (m.group(1), m.group(2)) if m else (None, None)

        def _handle(self, method):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            region, service = self._region_service()
            target = self.headers.get("X-Amz-Target")
            url = urlsplit(self.path)
            ctype = self.headers.get("Content-Type", "")
            if target:
                call = target
                try:
                    params = json.loads(raw or b"{}")
                except ValueError:
                    params = {"_unparsable": raw.decode(errors="replace")}
                json_type = "application/x-amz-json-1.1"
            elif ctype.startswith("application/x-www-form-urlencoded"):
                # Query protocol (STS): Action and parameters in the form body.
                call = f"{service} {method} {url.path}"
                params = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                json_type = "text/xml"
            else:
                call = f"{service} {method} {url.path}"
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                json_type = "application/json"
            fake.record({"region": region, "call": call, "params": params, "t": time.time()})
            if region is None:
                self._reply(403, {"__type": "MissingAuthenticationTokenException",
                                  "message": "no SigV4 Authorization header"}, json_type=json_type)
                return
            answer = fake.find(region, call, params)
            if answer is None:
                self._reply(400, {"__type": "UnrecordedRequest",
                                  "message": f"no recorded answer for {region} {call} {params}"},
                            json_type=json_type)
                return
            if "raw" in answer:
                data = answer["raw"].encode()
                self.send_response(answer.get("status", 200))
                self.send_header("Content-Type", answer.get("content_type", "text/xml"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self._reply(answer.get("status", 200), answer.get("body", {}),
                        answer.get("headers"), json_type=json_type)

        def do_POST(self):
            self._handle("POST")

        def do_GET(self):
            self._handle("GET")

    return Handler


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    fake = Fake(sys.argv[1], sys.argv[2])
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
