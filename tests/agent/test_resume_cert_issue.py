#!/usr/bin/env python3
"""`mskpkictl cert issue` resumes an issuance the agent left unfinished (issue 16): one
IssueCertificate in all, counted at moto.

Usage: test_resume_cert_issue.py MSKPKI_AGENT MSKPKICTL

moto's AWS Private CA sits behind a small recording proxy (a thread of this script on a
loopback port it binds itself) that counts every operation and, while `hold` is set, answers
GetCertificate with RequestInProgressException, as AWS does while a certificate is being made.
1. The agent (--once, poll_timeout 2 s) issues: IssueCertificate reaches moto, GetCertificate
   stays in progress, the agent exits 1 and leaves its pending issuance: the key (encrypted,
   key_passphrase_file is set) and CSR beside the outputs, the record in the state directory.
2. The proxy lets GetCertificate through; `mskpkictl cert issue` (key in its own process)
   resumes that issuance: it writes the certificate for the agent's pending key, sends no
   IssueCertificate, and leaves no pending file.  (moto's /moto-api/data.json does not dump the
   certificates it issued, so the proxy is the counter.)  Without the shared pending place cert issue would make a new key and CSR (another
   idempotency token) and pay for a second certificate.
"""
import json
import os
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agentlib import Env, aws_test_environment, check, done, free_port, start_server

SRC = os.environ.get("MSKPKI_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CTL = sys.argv[2]
aws_test_environment()


class Proxy:
    """Forwards every request to moto unchanged; counts operations by X-Amz-Target."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.calls = {}
        self.hold = True
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                op = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                with proxy.lock:
                    proxy.calls[op] = proxy.calls.get(op, 0) + 1
                    hold = proxy.hold
                if op == "GetCertificate" and hold:
                    answer = json.dumps({"__type": "RequestInProgressException",
                                         "message": "The request is in progress"}).encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection")}
                req = urllib.request.Request(proxy.upstream + self.path, data=body,
                                             headers=headers, method="POST")
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        status, answer, ctype = r.status, r.read(), r.headers.get("Content-Type")
                except urllib.error.HTTPError as e:
                    status, answer, ctype = e.code, e.read(), e.headers.get("Content-Type")
                self.send_response(status)
                self.send_header("Content-Type", ctype or "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, op):
        with self.lock:
            return self.calls.get(op, 0)


def pubkey(path, passfile):
    return subprocess.run(["openssl", "pkey", "-in", path, "-passin", "file:" + passfile,
                           "-pubout"], capture_output=True, text=True, check=True).stdout


env = Env(validity="1d", hook=False)
mport = free_port()
start_server([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(mport)], mport,
             open(os.path.join(env.tmp, "moto.log"), "w"))
moto = "http://127.0.0.1:%d" % mport
r = subprocess.run([sys.executable, os.path.join(SRC, "tests/pca/make_ca.py"), moto, "root"],
                   capture_output=True, text=True)
check(r.returncode == 0, "make_ca.py: %s" % r.stderr)
arn = r.stdout.split()[1]
proxy = Proxy(moto)
passfile = os.path.join(env.tmp, "key.pass")
with open(passfile, "w") as f:
    f.write("resume-secret")
os.chmod(passfile, 0o600)
env.output_extra = 'key_passphrase_file = "%s";' % passfile
env.ca_block = ('ca = { backend = "aws-pca"; aws_pca = { ca_arn = "%s"; region = "us-east-1"; '
                'endpoint_url = "%s"; poll_timeout = "2s"; }; };' % (arn, proxy.url))
env.write_config()

# 1. The agent is interrupted while the certificate is "in progress".
r = env.run("--once")
check(r.returncode == 1, "--once with GetCertificate held exited %d:\n%s" % (r.returncode, r.stderr))
check(proxy.count("IssueCertificate") == 1,
      "IssueCertificate calls after the agent: %r" % proxy.calls)
pkey = env.out("client", ".pending-client.key")
pcsr = env.out("client", ".pending-client.key.csr")
record = os.path.join(env.state_dir, "client.pending.json")
for p in (pkey, pcsr, record):
    check(os.path.exists(p), "%s missing after the interrupted issuance:\n%s" % (p, r.stderr))
check("BEGIN ENCRYPTED PRIVATE KEY" in open(pkey).read(), "pending key not encrypted")
check(not os.path.exists(env.out("client")), "a certificate was written while held")
pending_pub = pubkey(pkey, passfile)

# 2. cert issue resumes it: same key, same CSR (idempotency token, pending record).
proxy.hold = False
r = subprocess.run([CTL, "cert", "issue", "--config", env.conf, "--name", "client"],
                   capture_output=True, text=True, timeout=120)
check(r.returncode == 0, "cert issue exited %d:\n%s%s" % (r.returncode, r.stdout, r.stderr))
check("(resumed)" in r.stdout, "cert issue did not report a resumed issuance:\n" + r.stdout)
check(proxy.count("IssueCertificate") == 1,
      "a second IssueCertificate was sent by cert issue: %r" % proxy.calls)
check(proxy.count("GetCertificate") >= 2, "GetCertificate not called: %r" % proxy.calls)
check(pubkey(env.out("client", "client.key"), passfile) == pending_pub,
      "cert issue did not use the agent's pending key")
for p in (pkey, pcsr, record):
    check(not os.path.exists(p), "%s left after the resumed issuance" % p)

done("cert issue resumes the agent's pending issuance with one IssueCertificate")
