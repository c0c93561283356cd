"""Helpers shared by the reliability tests (tests/reliability/): the agent test library
(tests/agent/agentlib.py) plus the fault-injecting PCA fake and output snapshots."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MSKPKI_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(SRC, "tests", "agent"))

from agentlib import check, start_server  # noqa: E402

FAKE_ARN = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/fake"


class FakePca:
    """tests/pca/fake_pca.py on a loopback port it picks itself; faults switched through config.json."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "fake")
        os.mkdir(self.dir)
        self.set({})
        log = open(os.path.join(tmp, "fake.log"), "w")
        self.proc, self.port = start_server(
            [sys.executable, os.path.join(SRC, "tests/pca/fake_pca.py"), "0", self.dir], log,
            port_file=os.path.join(self.dir, "port"))

    def set(self, config):
        tmp = os.path.join(self.dir, "config.json.tmp")
        with open(tmp, "w") as f:
            json.dump(config, f)
        os.replace(tmp, os.path.join(self.dir, "config.json"))

    def stats(self):
        try:
            with open(os.path.join(self.dir, "stats.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"calls": {}, "last": {}, "times": {}}

    def ca_block(self, extra=""):
        return ('ca = { backend = "aws-pca"; aws_pca = { ca_arn = "%s"; region = "us-east-1"; '
                'endpoint_url = "http://127.0.0.1:%d"; %s }; };' % (FAKE_ARN, self.port, extra))


def snapshot(directory):
    """{relative path: (bytes or link target, mode)} of everything under directory."""
    out = {}
    for root, dirs, files in os.walk(directory):
        for n in dirs + files:
            p = os.path.join(root, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, directory)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p), st.st_mode)
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    out[rel] = ("file", f.read(), st.st_mode)
            else:
                out[rel] = ("dir", None, st.st_mode)
    return out


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data, capture_output=True)


def pubkey_of_key(path):
    r = openssl("pkey", "-in", path, "-pubout")
    return r.stdout if r.returncode == 0 else None


def pubkey_of_cert(path):
    r = openssl("x509", "-in", path, "-noout", "-pubkey")
    return r.stdout if r.returncode == 0 else None


def check_pair(directory, key="client.key", cert="client.crt", p12=None, p12_pass=None):
    """Key and certificate through the stable paths belong together; the PKCS#12 opens."""
    kp = pubkey_of_key(os.path.join(directory, key))
    cp = pubkey_of_cert(os.path.join(directory, cert))
    check(kp is not None and cp is not None and kp == cp,
          "key and certificate in %s do not match (key %s, cert %s)" %
          (directory, kp is not None, cp is not None))
    if p12 is not None:
        r = openssl("pkcs12", "-in", os.path.join(directory, p12), "-nodes", "-passin",
                    "file:" + p12_pass, "-nocerts")
        check(r.returncode == 0, "PKCS#12 in %s does not open: %s" % (directory, r.stderr[:300]))
        r2 = openssl("pkey", "-pubout", data=r.stdout)
        check(r2.returncode == 0 and r2.stdout == kp, "PKCS#12 key is not the key file's key")
