#!/usr/bin/env python3
"""The smallest valid config of the local backend works end to end (issue 17, item 1).

Usage: test_minimal_local.py MSKPKI_AGENT MSKPKICTL

The config is `ca = { backend = "local"; }`, a state_dir and one certificate with an output
(plus a test port for metrics).  The local CA's directory is the default, which once lay inside
state_dir, where the network process's sandbox hid it and with it the state files: the agent
issued, then logged state.write_failed for ever while `mskpkictl status` said missing.  Here:
the issuance, the state file, `mskpkictl status` ok (exit 0), metrics served, a SIGHUP reload,
and a rotation when the renewal comes due (the clock moved by libfaketime, then SIGUSR2, which
test builds treat as the kernel's clock-change cancel)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from agentlib import Agent, Env, check, done, faketime_env, serial_of, wait_for

CTL = sys.argv[2]

env = Env()
state_dir = os.path.join(env.tmp, "state")
out_dir = os.path.join(env.tmp, "out", "client")
MINIMAL = """ca = { backend = "local"; };
state_dir = "%s";
metrics = { listen = "127.0.0.1:%d"; };
certificates = (
  { name = "client";
    subject = { common_name = "client.example.com"; };
    output = { directory = "%s"; key = "client.key"; cert = "client.crt"; };
  }
);
""" % (state_dir, env.port, out_dir)
env.write_config(MINIMAL)

check(env.run("--check-config").returncode == 0, "the minimal config is rejected")
offset = os.path.join(env.tmp, "clock")
with open(offset, "w") as f:
    f.write("+0\n")
agent = Agent(env, faketime_env(offset_file=offset))

# Issued, and the state written (not state.write_failed).
st = wait_for(lambda: (env.state() or {}).get("generation") == 1 and env.state(), 60,
              "the first certificate and its state file")
check("event=state.write_failed" not in agent.text(), "state.write_failed:\n" + agent.text())
check(os.path.exists(os.path.join(state_dir + "-ca", "ca.key")),
      "the local CA is not at its default <state_dir>-ca")
check(not os.path.exists(os.path.join(state_dir, "ca")), "a CA directory inside state_dir")
first = serial_of(os.path.join(out_dir, "client.crt"))


def status():
    r = subprocess.run([CTL, "status", "--config", env.conf, "--format", "json"],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, json.loads(r.stdout or "{}")


rc, js = status()
check(rc == 0 and js["certificates"][0]["status"] == "ok",
      "mskpkictl status: exit %d %r" % (rc, js))

# Metrics served.
check(env.metric("mskpki_certificate_ready", {"name": "client"}) == 1, "metrics: not ready")

# A SIGHUP reload: a changed subject is taken up without a restart.
env.write_config(MINIMAL.replace("client.example.com", "client2.example.com"))
reloads = agent.text().count("event=config.reloaded")
agent.signal(signal.SIGHUP)
wait_for(lambda: agent.text().count("event=config.reloaded") > reloads, 30, "config.reloaded")
check("event=state.write_failed" not in agent.text(), "state.write_failed after the reload")

# A rotation once the renewal is due: the clock jumps past the planned renewal (2/3 of the
# lifetime).  Not past next_renewal: the reload drew a new jitter, and jitter only moves the
# renewal earlier than planned, never later.
planned = st["not_before"] + (st["not_after"] - st["not_before"]) * 2 // 3
with open(offset, "w") as f:
    f.write("+%d\n" % (planned - int(time.time()) + 60))
agent.signal(signal.SIGUSR2)
st2 = wait_for(lambda: (env.state() or {}).get("generation") == 2 and env.state(), 60,
               "the rotation when the renewal came due")
check(serial_of(os.path.join(out_dir, "client.crt")) != first, "serial unchanged by the rotation")
check(st2["last_result"] == "success", "state after the rotation: %r" % st2)
check("event=state.write_failed" not in agent.text(), "state.write_failed after the rotation")
agent.stop()

# A CA left at the old default (<state_dir>/ca), none at the new one: not silently replaced by
# a new CA (every client would need the new root).
shutil.rmtree(state_dir + "-ca")
os.mkdir(os.path.join(state_dir, "ca"), 0o700)
open(os.path.join(state_dir, "ca", "ca.key"), "w").close()
r = env.run("--check-config")
check(r.returncode == 2 and "run 'mv %s/ca %s-ca'" % (state_dir, state_dir) in r.stderr,
      "old CA place: exit %d %s" % (r.returncode, r.stderr))
done("minimal_local")
