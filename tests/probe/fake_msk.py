#!/usr/bin/env python3
"""fake_msk.py PORT ARN TLS_BROKERS [PLAINTEXT_BROKERS]: the one MSK call probe makes,
GetBootstrapBrokers (GET /v1/clusters/{clusterArn}/bootstrap-brokers), because moto does not
implement it.  For ARN it answers as the MSK API reference's GetBootstrapBrokersResponse shows:
bootstrapBrokerStringTls=TLS_BROKERS and, for a cluster whose clientBroker is TLS_PLAINTEXT,
bootstrapBrokerString=PLAINTEXT_BROKERS (absent fields are left out, as the service does).
Any other cluster gets NotFoundException.  Listens on 127.0.0.1 only; with PORT 0 it binds a
free port and prints "PORT=<n>" first (no pick-release-reuse race).  Logs each request on stderr."""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import unquote

PORT, ARN, BROKERS = int(sys.argv[1]), sys.argv[2], sys.argv[3]
PLAINTEXT = sys.argv[4] if len(sys.argv) > 4 else None


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0]
        prefix, suffix = "/v1/clusters/", "/bootstrap-brokers"
        if not (path.startswith(prefix) and path.endswith(suffix)):
            self._send(404, {"message": "no such route"}, [("x-amzn-ErrorType", "NotFoundException")])
            return
        arn = unquote(path[len(prefix):-len(suffix)])
        if "Authorization" not in self.headers or "AWS4-HMAC-SHA256" not in self.headers["Authorization"]:
            self._send(403, {"message": "missing signature"},
                       [("x-amzn-ErrorType", "UnauthorizedException")])
            return
        if arn != ARN:
            self._send(404, {"__type": "NotFoundException", "message": "cluster %s not found" % arn},
                       [("x-amzn-ErrorType", "NotFoundException")])
            return
        body = {"bootstrapBrokerStringTls": BROKERS}
        if PLAINTEXT is not None:
            body["bootstrapBrokerString"] = PLAINTEXT
        self._send(200, body)


# PORT 0: the kernel picks the port, reported as "PORT=N" once the socket listens.
server = HTTPServer(("127.0.0.1", PORT), Handler)
print("PORT=%d" % server.server_address[1], flush=True)
server.serve_forever()
