#!/usr/bin/env python3
"""--check-config checks what fails at the first rotation (issue 17, item 6), each with a failing
and a passing case: secret files (present, owner, mode, with the command that fixes it), the hook
program (exists, executable, trusted), the parent of output.directory, the CA ARN's region (the
default; another configured region is an error naming both).  --format json lists every check
with the same exits.  --online (against moto, and tests/pca/fake_pca.py for a short-lived CA):
credentials, and DescribeCertificateAuthority against each certificate's validity; 3 when only
an online check fails."""
import json
import os
import pwd
import subprocess
import sys

from agentlib import (AGENT, Env, aws_test_environment, check, done, moto_argv, start_server)

SRC = os.environ.get("MSKPKI_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
aws_test_environment()


def run(env, *extra, environ=None):
    return env.run("--check-config", *extra, extra_env=environ)


def run_json(env, *extra, environ=None):
    r = run(env, "--format", "json", *extra, environ=environ)
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        check(False, "--format json is not JSON: %r %r" % (r.stdout, r.stderr))
    check(doc["exit"] == r.returncode, "exit %d but the document says %r" % (r.returncode, doc))
    return r.returncode, {c["name"]: c for c in doc["checks"]}


def expect(env, rc, name, status, *words, extra=(), environ=None):
    """Runs both formats; the check `name` has `status`, its message all of `words`."""
    code, checks = run_json(env, *extra, environ=environ)
    check(code == rc, "exit %d, expected %d: %r" % (code, rc, checks))
    check(name in checks and checks[name]["status"] == status,
          "check %s is not %s: %r" % (name, status, checks.get(name, checks)))
    for w in words:
        check(w in checks[name]["message"], "%r not in the message of %s: %r"
              % (w, name, checks[name]["message"]))
    r = run(env, *extra, environ=environ)
    check(r.returncode == rc, "text format: exit %d, expected %d" % (r.returncode, rc))
    if status == "fail":
        check(any(all(w in line for w in words) for line in r.stderr.splitlines()),
              "text format: no line with %r: %r" % (words, r.stderr))
    return checks


# ---- secret files -------------------------------------------------------------------------
env = Env(validity="1d", hook=False)
secret = os.path.join(env.tmp, "p12.pass")
env.output_extra = 'pkcs12 = "client.p12"; pkcs12_password_file = "%s";' % secret
env.write_config()
name = "certificate.client.pkcs12_password_file"
expect(env, 2, name, "fail", secret, "No such file")
with open(secret, "w") as f:
    f.write("Zq8k2LmXv91rT\n")
os.chmod(secret, 0o644)
expect(env, 2, name, "fail", "chmod 600 " + secret)   # others may read it
os.chmod(secret, 0o660)
expect(env, 2, name, "fail", "chmod 600 " + secret)   # its group may write it
os.chmod(secret, 0o600)
expect(env, 0, name, "ok", secret)

# ---- hook program ---------------------------------------------------------------------------
env = Env(validity="1d", hook=False)
hook = os.path.join(env.tmp, "hook.sh")
env.cert_extra = 'hook = { command = [ "%s", "x" ]; };' % hook
env.write_config()
name = "certificate.client.hook"
expect(env, 2, name, "fail", hook, "No such file")
with open(hook, "w") as f:
    f.write("#!/bin/sh\nexit 0\n")
os.chmod(hook, 0o644)
expect(env, 2, name, "fail", "chmod 755 " + hook)
os.chmod(hook, 0o755)
if os.geteuid() == 0:
    # The trust rule: a program owned by someone else than root or agent.user is refused.
    os.chown(hook, pwd.getpwnam("nobody").pw_uid, -1)
    expect(env, 2, name, "fail", hook)
    os.chown(hook, 0, 0)
expect(env, 0, name, "ok", hook)

# ---- output parent --------------------------------------------------------------------------
env = Env(validity="1d", hook=False)
env.output_extra = ""
text = env.config_text().replace('directory = "%s/out/client"' % env.tmp,
                                 'directory = "%s/missing/client"' % env.tmp)
env.write_config(text)
name = "certificate.client.output_parent"
expect(env, 2, name, "fail", "%s/missing" % env.tmp, "does not exist")
os.mkdir(os.path.join(env.tmp, "missing"), 0o755)
expect(env, 0, name, "ok")

# ---- region ---------------------------------------------------------------------------------
env = Env(validity="1d", hook=False)
eu_arn = "arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/abc"
env.ca_block = ('ca = { backend = "aws-pca"; aws_pca = { ca_arn = "%s"; region = "us-east-1"; '
                'endpoint_url = "http://127.0.0.1:1"; }; };' % eu_arn)
env.write_config()
expect(env, 2, "config", "fail", "us-east-1", "eu-west-1", "region")
env.ca_block = env.ca_block.replace('region = "us-east-1"; ', "")
env.write_config()
checks = expect(env, 0, "ca.region", "ok", "eu-west-1")
check(checks["ca.validity"]["status"] == "skip", "offline validity: %r" % checks["ca.validity"])

# --online and --format alone are usage errors; an unknown format too.
r = env.run("--online")
check(r.returncode == 2, "--online without --check-config: %d" % r.returncode)
r = run(env, "--format", "yaml")
check(r.returncode == 2, "--format yaml: %d" % r.returncode)

# ---- --online against moto --------------------------------------------------------------------
env = Env(validity="1d", hook=False)
_, mport = start_server(moto_argv(os.path.join(env.tmp, "moto.port")),
                        open(os.path.join(env.tmp, "moto.log"), "w"),
                        port_file=os.path.join(env.tmp, "moto.port"))
url = "http://127.0.0.1:%d" % mport
r = subprocess.run([sys.executable, os.path.join(SRC, "tests/pca/make_ca.py"), url, "root",
                    "disabled"], capture_output=True, text=True)
check(r.returncode == 0, "make_ca.py: %s" % r.stderr)
arns = dict(line.split() for line in r.stdout.splitlines())
# No region configured, and the environment says another: the ARN's region is used.
env.ca_block = ('ca = { backend = "aws-pca"; aws_pca = { ca_arn = "%s"; endpoint_url = "%s"; '
                '}; };' % (arns["root"], url))
env.write_config()
other = {"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-west-2"}
checks = expect(env, 0, "certificate.client.ca", "ok", extra=("--online",), environ=other)
check(checks["aws.credentials"]["status"] == "ok" and "us-east-1" in
      checks["aws.credentials"]["message"], "credentials: %r" % checks["aws.credentials"])
# Offline, the same config passes without a word to AWS.
expect(env, 0, "ca.region", "ok", "us-east-1")
# No credentials anywhere: 3, the offline checks passed.
nocreds = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
expect(env, 3, "aws.credentials", "fail", extra=("--online",), environ=nocreds)
# A CA that is not ACTIVE.
env.ca_block = env.ca_block.replace(arns["root"], arns["disabled"])
env.write_config()
expect(env, 3, "certificate.client.ca", "fail", "DISABLED", "not ACTIVE", extra=("--online",))
# An offline failure wins over an online one: 2.
env.ca_block = env.ca_block.replace('endpoint_url', 'region = "eu-west-1"; endpoint_url')
env.write_config()
expect(env, 2, "config", "fail", "eu-west-1", extra=("--online",))

# ---- --online: a short-lived CA (tests/pca/fake_pca.py) -------------------------------------
fdir = os.path.join(env.tmp, "fake")
os.mkdir(fdir)
with open(os.path.join(fdir, "config.json"), "w") as f:
    json.dump({"describe": {"UsageMode": "SHORT_LIVED_CERTIFICATE"}}, f)
_, fport = start_server([sys.executable, os.path.join(SRC, "tests/pca/fake_pca.py"), "0", fdir],
                        open(os.path.join(env.tmp, "fake.log"), "w"),
                        port_file=os.path.join(fdir, "port"))
fake_arn = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/fake"
env = Env(validity="30d", hook=False)
env.ca_block = ('ca = { backend = "aws-pca"; aws_pca = { ca_arn = "%s"; '
                'endpoint_url = "http://127.0.0.1:%d"; }; };' % (fake_arn, fport))
env.write_config()
expect(env, 3, "certificate.client.ca", "fail", "SHORT_LIVED_CERTIFICATE", "7 days",
       extra=("--online",))
env.validity = "7d"
env.write_config()
expect(env, 0, "certificate.client.ca", "ok", extra=("--online",))

# The local CA has nothing to check online.
env = Env(validity="1d", hook=False)
expect(env, 0, "ca.online", "skip", extra=("--online",))
done("check_config_checks")
