#!/usr/bin/env python3
"""aws-pca end to end.
(a) Against moto (a root Private CA made by tests/pca/make_ca.py): the daemon issues, the
    certificate verifies for clientAuth against the CA, metrics count AWS requests and issuance.
(b) Against tests/pca/fake_pca.py, which can keep GetCertificate "in progress": an issuance that
    does not finish leaves the pending key (0600, encrypted PKCS#8 with key_passphrase_file) and
    CSR beside the outputs and the record in the state directory; the next run resumes it with
    the same key and without a second IssueCertificate (no second certificate paid for)."""
import json
import os
import subprocess
import sys

from agentlib import (Env, aws_test_environment, check, done, free_port, start_server,
                      wait_for)

SRC = os.environ.get("MSKPKI_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
aws_test_environment()


def pca_block(arn, endpoint, extra=""):
    return ('ca = { backend = "aws-pca"; aws_pca = { ca_arn = "%s"; region = "us-east-1"; '
            'endpoint_url = "%s"; %s }; };' % (arn, endpoint, extra))


# ---- (a) moto ----------------------------------------------------------------------------
env = Env(validity="1d", hook=True)
mport = free_port()
moto = start_server([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(mport)],
                    mport, open(os.path.join(env.tmp, "moto.log"), "w"))
url = "http://127.0.0.1:%d" % mport
r = subprocess.run([sys.executable, os.path.join(SRC, "tests/pca/make_ca.py"), url, "root"],
                   capture_output=True, text=True)
check(r.returncode == 0, "make_ca.py: %s" % r.stderr)
arn = r.stdout.split()[1]
env.ca_block = pca_block(arn, url)
env.write_config()
agent = env.start()
st = wait_for(lambda: (env.state() or {}).get("generation", 0) >= 1 and env.state(), 90,
              "issuance from moto")
check(st["ca"] == "aws-pca" and st["ready"] is True, "state: %r" % st)
import boto3  # noqa: E402
pca = boto3.client("acm-pca", endpoint_url=url, region_name="us-east-1")
ca_pem = pca.get_certificate_authority_certificate(CertificateAuthorityArn=arn)["Certificate"]
with open(os.path.join(env.tmp, "pca-ca.pem"), "w") as f:
    f.write(ca_pem + "\n")
r = subprocess.run(["openssl", "verify", "-purpose", "sslclient", "-CAfile",
                    os.path.join(env.tmp, "pca-ca.pem"), env.out("client")],
                   capture_output=True, text=True)
check(r.returncode == 0, "openssl verify against the Private CA: %s%s" % (r.stdout, r.stderr))
check(env.metric("mskpki_certificates_issued_total", {"name": "client"}) == 1, "issued != 1")
check((env.metric("mskpki_ca_requests_total", {"ca": "aws-pca", "code": "ok"}) or 0) >= 2,
      "aws-pca requests not counted")
check(not os.path.exists(env.out("client", ".pending-client.key")),
      "pending key left after success")
check(len(open(env.hook_log).read().splitlines()) == 1, "hook did not run once")
agent.stop()

# ---- (b) fake_pca: a pending issuance is resumed with its key -------------------------------
env2 = Env(validity="1d", hook=False)
passfile = os.path.join(env2.tmp, "key.pass")
with open(passfile, "w") as f:
    f.write("pending-secret")
os.chmod(passfile, 0o600)
env2.output_extra = 'key_passphrase_file = "%s";' % passfile
fport = free_port()
fdir = os.path.join(env2.tmp, "fake")
os.mkdir(fdir)
with open(os.path.join(fdir, "config.json"), "w") as f:
    json.dump({"in_progress": -1}, f)
start_server([sys.executable, os.path.join(SRC, "tests/pca/fake_pca.py"), str(fport), fdir],
             fport, open(os.path.join(env2.tmp, "fake.log"), "w"))
fake_arn = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/fake"
env2.ca_block = pca_block(fake_arn, "http://127.0.0.1:%d" % fport, 'poll_timeout = "2s";')
env2.write_config()

r = env2.run("--once")
check(r.returncode == 1, "--once while the certificate is in progress exited %d:\n%s"
      % (r.returncode, r.stderr))
# The pending key and CSR live beside the outputs, out of the network process's reach; the CA's
# record (the certificate ARN) in the state directory.
pkey = env2.out("client", ".pending-client.key")
pcsr = env2.out("client", ".pending-client.key.csr")
check(os.path.exists(pkey), "no pending key after an unfinished issuance:\n%s" % r.stderr)
check(os.path.exists(pcsr), "no pending CSR after an unfinished issuance:\n%s" % r.stderr)
check(os.path.exists(os.path.join(env2.state_dir, "client.pending.json")),
      "no pending record after an unfinished issuance:\n%s" % r.stderr)
for suffix in (".pending.csr", ".pending.key"):
    check(not os.path.exists(os.path.join(env2.state_dir, "client" + suffix)),
          "%s in the state directory" % suffix)
check(os.stat(pkey).st_mode & 0o777 == 0o600, "pending key mode %o" % os.stat(pkey).st_mode)
check("BEGIN ENCRYPTED PRIVATE KEY" in open(pkey).read(),
      "pending key not encrypted although key_passphrase_file is set")
stats = json.load(open(os.path.join(fdir, "stats.json")))
check(stats["calls"].get("IssueCertificate") == 1, "IssueCertificate calls: %r" % stats)
pending_pub = subprocess.run(["openssl", "pkey", "-in", pkey, "-passin", "file:" + passfile,
                              "-pubout"], capture_output=True, text=True, check=True).stdout
check(env2.state()["last_result"] == "failure", "failure not recorded")

# The CA finishes: a new config resets the fake's counters.
with open(os.path.join(fdir, "config.json"), "w") as f:
    json.dump({}, f)
r = env2.run("--once")
check(r.returncode == 0, "--once resuming exited %d:\n%s" % (r.returncode, r.stderr))
stats = json.load(open(os.path.join(fdir, "stats.json")))
check("IssueCertificate" not in stats["calls"], "a second IssueCertificate was sent: %r" % stats)
check(stats["calls"].get("GetCertificate", 0) >= 1, "GetCertificate not called: %r" % stats)
out_pub = subprocess.run(["openssl", "pkey", "-in", env2.out("client", "client.key"), "-passin",
                          "file:" + passfile, "-pubout"],
                         capture_output=True, text=True, check=True).stdout
check(out_pub == pending_pub, "the resumed issuance did not use the pending key")
check(not os.path.exists(pkey), "pending key left after the resumed issuance")
check(not os.path.exists(pcsr), "pending CSR left after the resumed issuance")
for suffix in (".pending.csr", ".pending.json"):
    check(not os.path.exists(os.path.join(env2.state_dir, "client" + suffix)),
          "%s left after the resumed issuance" % suffix)
check("event=rotation.resume" in r.stderr, "no rotation.resume line:\n" + r.stderr)
check(env2.state()["generation"] == 1 and env2.state()["ready"], "state: %r" % env2.state())
done("aws_pca")
