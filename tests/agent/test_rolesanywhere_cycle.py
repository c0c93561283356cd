#!/usr/bin/env python3
"""IAM Roles Anywhere, the full cycle: the agent's own certificate pays for its renewals.

moto's ACM PCA issues (a root Private CA made by tests/pca/make_ca.py); every ACM PCA call goes
through tests/aws/fake_rolesanywhere.py, which records the access key id that signed it and
forwards it to moto, and which also serves CreateSession (verifying the signature the key
process made, and the chain to the Private CA's certificate), handing out keys
ASIAROLESANYWHERE<n> that moto accepts.

1. Bootstrap: the agent starts with environment keys ("testing") and no certificate: the first
   IssueCertificate is signed with them and the log says so (credentials=env); the next
   renewal in the same run is signed with Roles Anywhere keys although the keys are still set.
2. Renewals: the agent restarts with no AWS credentials anywhere (no environment keys, no
   profile files, no instance metadata); each IssueCertificate is signed with session keys from
   CreateSession, whose signature the fake verified against the agent's current certificate.
3. Metrics show the source and the expiry; the key process logged each signature.
4. Roles Anywhere refuses (profile disabled) and there are no credentials: one line with both
   reasons, saying renewal needs a new bootstrap.
5. A host with no certificate and no credentials: one line says how to bootstrap.
"""
import json
import os
import subprocess
import sys
import shutil
import signal
import time

import agentlib  # noqa: E402
from agentlib import (Env, aws_test_environment, check, done, start_server,
                      wait_for)

SRC = os.environ.get("MSKPKI_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
aws_test_environment()
CTL = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.environ.get("MSKPKI_BUILD_DIR", "."), "ctl", "mskpkictl")
TA = "arn:aws:rolesanywhere:us-east-1:111122223333:trust-anchor/ta1"
PROFILE = "arn:aws:rolesanywhere:us-east-1:111122223333:profile/p1"
ROLE = "arn:aws:iam::111122223333:role/mskpki-issuer"

env = Env(validity="40s", fraction="0.5", jitter="0.05", hook=False)
moto, mport = start_server([sys.executable, os.path.join(SRC, "tests/support/moto_server.py"),
                            os.path.join(env.tmp, "moto.port")],
                           open(os.path.join(env.tmp, "moto.log"), "w"),
                           port_file=os.path.join(env.tmp, "moto.port"))
moto_url = "http://127.0.0.1:%d" % mport
r = subprocess.run([sys.executable, os.path.join(SRC, "tests/pca/make_ca.py"), moto_url, "root"],
                   capture_output=True, text=True)
check(r.returncode == 0, "make_ca.py: %s" % r.stderr)
arn = r.stdout.split()[1]
import boto3  # noqa: E402
pca = boto3.client("acm-pca", endpoint_url=moto_url, region_name="us-east-1")
trust = os.path.join(env.tmp, "trust.pem")
with open(trust, "w") as f:
    f.write(pca.get_certificate_authority_certificate(CertificateAuthorityArn=arn)["Certificate"]
            + "\n")

fport_file = os.path.join(env.tmp, "fake.port")
fake_log = os.path.join(env.tmp, "fake.jsonl")
fake = subprocess.Popen([sys.executable, os.path.join(SRC, "tests/aws/fake_rolesanywhere.py"),
                         "--port-file", fport_file, "--trust", trust, "--log", fake_log,
                         "--forward", moto_url, "--expires-in", "3600", "--lifetime", "500"],
                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(env.tmp, "fake.err"), "w"))
# Stopped at exit with the other servers, whatever happens (ctest waits for its output pipes).
agentlib._children.append(fake)
wait_for(lambda: os.path.exists(fport_file), 30, "the fake Roles Anywhere endpoint")
fake_url = "http://127.0.0.1:%s" % open(fport_file).read()

env.ca_block = ('ca = { backend = "aws-pca"; aws_pca = { ca_arn = "%s"; region = "us-east-1"; '
                'endpoint_url = "%s"; roles_anywhere = { trust_anchor_arn = "%s"; '
                'profile_arn = "%s"; role_arn = "%s"; certificate = "client"; duration = "1h"; '
                'session_name = "client"; endpoint_url = "%s"; }; }; };'
                % (arn, fake_url, TA, PROFILE, ROLE, fake_url))
env.write_config()
r = env.run("--check-config")
check(r.returncode == 0, "--check-config: %s" % r.stderr)


def events():
    if not os.path.exists(fake_log):
        return []
    return [json.loads(line) for line in open(fake_log)]


def issues():
    return [e for e in events() if e["event"] == "forward"
            and e["target"].endswith(".IssueCertificate")]


# ---- 1. bootstrap with environment keys ----------------------------------------------------
agent = env.start()
wait_for(lambda: (env.state() or {}).get("generation", 0) >= 1, 90, "the bootstrap issuance")
first = issues()
check(len(first) >= 1 and first[0]["akid"] == "testing",
      "the bootstrap IssueCertificate was not signed with the environment keys: %r" % first)
check("credentials=env" in agent.text(), "the log does not say env signed the bootstrap")
# Once the certificate exists it pays for the next renewal, though the keys are still there.
agent.signal(signal.SIGUSR1)
wait_for(lambda: (env.state() or {}).get("generation", 0) >= 2, 90, "the first self-renewal")
check(issues()[-1]["akid"].startswith("ASIAROLESANYWHERE"),
      "the renewal after the bootstrap was signed with %r" % issues()[-1])
agent.stop()

# ---- 2. renewals with no AWS credentials anywhere ------------------------------------------
for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.pop(k, None)
gen0 = env.state()["generation"]
n_issues = len(issues())
agent = env.start()
# moto ignores the requested validity (its certificates last a year): SIGUSR1 forces renewals.
for i in (1, 2):
    agent.signal(signal.SIGUSR1)
    wait_for(lambda: (env.state() or {}).get("generation", 0) >= gen0 + i, 90,
             "renewal %d signed by Roles Anywhere" % i)
later = issues()[n_issues:]
check(len(later) >= 2, "renewals: %r" % later)
check(all(e["akid"].startswith("ASIAROLESANYWHERE") for e in later),
      "an IssueCertificate after the bootstrap was not signed with session keys: %r" % later)
sessions = [e for e in events() if e["event"] == "session"]
check(len(sessions) >= 1, "no CreateSession verified by the fake")
check(all(s["cn"] == "client.example.com" and s["session"] == "client" and s["duration"] == 3600
          and s["alg"] == "AWS4-X509-ECDSA-SHA256" for s in sessions), "sessions: %r" % sessions)
akids = {s["akid"] for s in sessions}
check({e["akid"] for e in later} <= akids, "IssueCertificate keys not from CreateSession")
text = agent.text()
check("credentials=roles-anywhere" in text, "the log does not say roles-anywhere signed")
check("event=keyproc.ra_sign name=client" in text, "the key process did not log its signature")
check(env.metric("mskpki_aws_credentials_source_info", {"source": "roles-anywhere"}) == 1,
      "mskpki_aws_credentials_source_info{source=roles-anywhere} != 1")
exp = env.metric("mskpki_aws_credentials_expiry_timestamp_seconds")
check(exp is not None and exp > time.time() + 3000, "credentials expiry metric: %r" % exp)
# mskpkictl credentials asks the running agent first (its control socket): the agent's own
# session comes back, and no CreateSession is signed for it (the caller needs no key).
n_sessions = len([e for e in events() if e["event"] == "session"])
r = subprocess.run([CTL, "credentials", "--certificate", "client", "--config", env.conf],
                   capture_output=True, text=True, timeout=60, env=env.env())
check(r.returncode == 0, "mskpkictl credentials through the agent: %d %s" % (r.returncode, r.stderr))
doc = json.loads(r.stdout)
check(doc["Version"] == 1 and doc["AccessKeyId"] in akids and doc["SecretAccessKey"]
      and doc["SessionToken"] and doc["Expiration"].endswith("Z"), "credentials: %r" % doc)
check(len([e for e in events() if e["event"] == "session"]) == n_sessions,
      "mskpkictl credentials made its own CreateSession although the agent runs")
check("event=control.credentials name=client" in agent.text(), "the agent did not answer it")
check(doc["SecretAccessKey"] not in agent.text(), "the agent logged the secret key")
# Only the certificate roles_anywhere names: the agent refuses another (exit 1, one line).
r = subprocess.run([CTL, "credentials", "--certificate", "other", "--config", env.conf],
                   capture_output=True, text=True, timeout=60, env=env.env())
check(r.returncode != 0 and r.stderr.count("\n") == 1, "credentials for another name: %d %r"
      % (r.returncode, r.stderr))
agent.stop()

# ---- 3. Roles Anywhere refuses and there are no credentials: one line, both reasons ----------
env.write_config(env.config_text().replace(PROFILE, PROFILE + "-disabled"))
agent = env.start()
agent.signal(signal.SIGUSR1)
wait_for(lambda: "access denied by profile" in agent.text(), 60, "the refused CreateSession")
wait_for(lambda: "event=rotation.failure" in agent.text(),
         60, "the failed renewal")
lines = [ln for ln in agent.text().splitlines() if "and the credential chain" in ln]
check(len(lines) >= 1 and "access denied by profile" in lines[0]
      and "renewal needs a new bootstrap" in lines[0],
      "no single line with both reasons:\n" + agent.text()[-3000:])
agent.stop()

# ---- 4. a new host (no certificate) and no credentials: how to bootstrap ---------------------
shutil.rmtree(os.path.join(env.tmp, "out", "client"))
shutil.rmtree(env.state_dir)
env.write_config()
r = env.run("--once")
check(r.returncode != 0, "--once with no certificate and no credentials succeeded")
check("to bootstrap, give the agent one-time AWS credentials" in r.stderr
      and "mskpkictl cert issue --config FILE --name client" in r.stderr
      and "and the credential chain: no AWS credentials found" in r.stderr,
      "no bootstrap hint:\n" + r.stderr)
done("rolesanywhere_cycle")
