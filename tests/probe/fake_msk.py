#!/usr/bin/env python3
"""fake_msk.py PORT ARN BROKERS: the one MSK call probe makes, GetBootstrapBrokers
(GET /v1/clusters/{clusterArn}/bootstrap-brokers), because moto does not implement it.
Answers bootstrapBrokerStringTls=BROKERS for ARN and NotFoundException for any other cluster.
Listens on 127.0.0.1 only; logs each request line on stderr."""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import unquote

PORT, ARN, BROKERS = int(sys.argv[1]), sys.argv[2], sys.argv[3]


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
        self._send(200, {"bootstrapBrokerStringTls": BROKERS})


# PORT 0: the kernel picks the port, reported as "PORT=N" once the socket listens.
server = HTTPServer(("127.0.0.1", PORT), Handler)
print("PORT=%d" % server.server_address[1], flush=True)
server.serve_forever()
