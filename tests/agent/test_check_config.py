#!/usr/bin/env python3
"""(6) --check-config: 0 for a good config, 2 with a one-line error for a bad or missing one;
and the other command-line exits."""
import os
import socket
import subprocess

from agentlib import AGENT, Env, check, done

env = Env()
r = env.run("--check-config")
check(r.returncode == 0, "good config: %d %s" % (r.returncode, r.stderr))
check(not os.path.exists(env.state_dir), "--check-config touched the state dir")

env.write_config(env.config_text() + "\ncertificates_typo = 1;\n")
r = env.run("--check-config")
check(r.returncode == 2, "unknown setting: exit %d" % r.returncode)
lines = r.stderr.strip().splitlines()
check(len(lines) == 1 and env.conf in lines[0] and "certificates_typo" in lines[0],
      "error is not one line naming file and setting: %r" % r.stderr)

env.write_config("certificates = (\n")
r = env.run("--check-config")
check(r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, "syntax error: %r" % r.stderr)

r = subprocess.run([AGENT, "--config", os.path.join(env.tmp, "missing.conf"), "--check-config"],
                   capture_output=True, text=True)
check(r.returncode == 2 and "missing.conf" in r.stderr, "missing file: %r" % r.stderr)

r = subprocess.run([AGENT, "--version"], capture_output=True, text=True)
check(r.returncode == 0 and r.stdout.startswith("mskpki-agent "), "--version: %r" % r.stdout)
r = subprocess.run([AGENT, "--help"], capture_output=True, text=True)
check(r.returncode == 0 and "--check-config" in r.stdout, "--help")
r = subprocess.run([AGENT, "--bogus"], capture_output=True, text=True)
check(r.returncode == 2, "unknown option exit %d" % r.returncode)
r = subprocess.run([AGENT, "--once", "--check-config"], capture_output=True, text=True)
check(r.returncode == 2, "conflicting modes exit %d" % r.returncode)
# The daemon cannot start when its metrics port is taken: exit 1 naming the address.
env2 = Env()
blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
blocker.bind(("127.0.0.1", env2.port))
blocker.listen(1)
r = env2.run(timeout=60)
blocker.close()
check(r.returncode == 1 and "127.0.0.1:%d" % env2.port in r.stderr,
      "port in use: exit %d %r" % (r.returncode, r.stderr))
done("check_config")
