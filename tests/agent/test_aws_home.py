#!/usr/bin/env python3
"""Started as root (sudo keeps HOME=/root), the network process runs as mskpki and reads the AWS
shared files from mskpki's home, not from root's (issue 16 with the AWS credential chain): root's
home (0700) would stop the chain at EACCES on ~/.aws/config before the container or instance
credentials the host has.  Here the only credentials are container credentials (a fake
endpoint on loopback); root's ~/.aws is named in one warning and left alone."""
import json
import os
import subprocess
import sys
import urllib.request

from agentlib import Env, aws_test_environment, check, done, moto_argv, start_server

if os.geteuid() != 0:
    print("SKIP: needs root (CI runs the tests as root)")
    sys.exit(77)

SRC = os.environ.get("MSKPKI_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
aws_test_environment()

env = Env(validity="1d", hook=False)
moto, mport = start_server(moto_argv(os.path.join(env.tmp, "moto.port")),
                           open(os.path.join(env.tmp, "moto.log"), "w"),
                           port_file=os.path.join(env.tmp, "moto.port"))
url = "http://127.0.0.1:%d" % mport
r = subprocess.run([sys.executable, os.path.join(SRC, "tests/pca/make_ca.py"), url, "root"],
                   capture_output=True, text=True)
check(r.returncode == 0, "make_ca.py: %s" % r.stderr)
arn = r.stdout.split()[1]
env.ca_block = ('ca = { backend = "aws-pca"; aws_pca = { ca_arn = "%s"; region = "us-east-1"; '
                'endpoint_url = "%s"; }; };' % (arn, url))
env.write_config()

# root's home as on a host: 0700, with shared files the network process cannot read.
home = os.path.join(env.tmp, "roothome")
os.makedirs(os.path.join(home, ".aws"), 0o700)
os.chmod(home, 0o700)
for n in ("config", "credentials"):
    with open(os.open(os.path.join(home, ".aws", n), os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("[default]\nregion = us-east-1\n")

fdir = os.path.join(env.tmp, "fake")
os.mkdir(fdir)
_, fport = start_server([sys.executable, os.path.join(SRC, "tests/aws/fake_server.py"),
                         "--port-file", os.path.join(fdir, "port"), "--lifetime", "300"],
                        open(os.path.join(env.tmp, "fake.log"), "w"),
                        port_file=os.path.join(fdir, "port"))
extra = {"HOME": home,
         "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:%d/container-creds" % fport}
for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CONFIG_FILE",
          "AWS_SHARED_CREDENTIALS_FILE"):
    os.environ.pop(k, None)

r = env.run("--once", extra_env=extra)
check(r.returncode == 0, "--once as root with container credentials exited %d:\n%s"
      % (r.returncode, r.stderr))
check(os.path.exists(env.out("client")), "no certificate written")
warn = [l for l in r.stderr.splitlines() if "event=sandbox.home" in l]
check(len(warn) == 1 and ("ignored=%s/.aws" % home) in warn[0],
      "no one warning naming root's ~/.aws: %r" % warn)
check("Permission denied" not in r.stderr, "a permission error in the log:\n" + r.stderr)
with urllib.request.urlopen("http://127.0.0.1:%d/counts" % fport, timeout=10) as resp:
    counts = json.load(resp)
check(any(k.startswith("GET /container-creds") for k in counts),
      "the container credentials were not asked: %r" % counts)
done("aws_home")
