#!/usr/bin/env python3
"""One writer and the control socket (issue 17, item 5).

Usage: test_control.py MSKPKI_AGENT MSKPKICTL   (as root, like CI: the network process runs as
the user mskpki of scripts/setup.sh)

1. Lock: a daemon holds <state_dir>/agent.lock; --once beside it and a second daemon (another
   metrics port) exit 3 with one line naming the holder's PID.
2. The socket is 0660, root and the agent's group; a member (mskpki) may use it, nobody cannot
   connect, and nobody through a widened socket is refused by the agent (SO_PEERCRED).
3. mskpkictl status --live (JSON and table), renew of one certificate of three (the others keep
   their serials), renew --all, an unknown name (2), reload (0, and 1 with a broken config),
   mskpki-agent --renew handed to the daemon.
4. cert issue through the daemon, then revoke of the old certificate: state file, status --live
   and mskpki_certificate_info all report the new serial (the bug of item 5).  Revoking the
   certificate in use is refused without --replace/--force; --replace re-issues, then revokes.
5. No agent: renew, reload and status --live exit 3; cert issue works alone and is refused
   (3, naming the PID) while another process holds the lock.
"""
import fcntl
import grp
import json
import os
import re
import shutil
import socket
import subprocess
import sys

import agentlib
from agentlib import AGENT, Env, check, done, wait_for

CTL = sys.argv[2]


def ctl(env, *args, user=None):
    argv = [CTL] + list(args)
    if "--config" not in args:
        k = 2 if args[0] == "cert" else 1
        argv = [CTL] + list(args[:k]) + ["--config", env.conf] + list(args[k:])
    if user == "mskpki":
        argv = ["setpriv", "--reuid", "mskpki", "--regid", "mskpki", "--init-groups"] + argv
    elif user == "nobody":
        argv = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"] + argv
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env.env())
    with open(os.path.join(env.tmp, "runs.log"), "a") as f:
        f.write("%s -> %d\n%s%s" % (" ".join(argv), r.returncode, r.stdout, r.stderr))
    return r


def serial_of(path):
    """The certificate's serial as the agent writes it: uppercase hex, no "serial=" prefix."""
    return agentlib.serial_of(path).split("=", 1)[1].upper()


def info_serial(env, name):
    status, text = env.scrape()
    check(status == 200, "no metrics")
    for line in text.splitlines():
        if line.startswith("mskpki_certificate_info{") and 'name="%s"' % name in line:
            return re.search(r'serial="([0-9A-F]+)"', line).group(1)
    return None


def live(env):
    r = ctl(env, "status", "--live", "--format", "json")
    check(r.returncode == 0, "status --live: %d %s" % (r.returncode, r.stderr))
    return {c["name"]: c for c in json.loads(r.stdout)["certificates"]}


names = ("a", "b", "c")
env = Env(names=names, validity="1h")
sock = env.control_socket  # <tmp>/run/control.sock: the agent makes run/
check(len(sock) <= 100, "the test's temp dir is too deep for a socket path: " + sock)
agent = env.start()
wait_for(lambda: all((env.state(n) or {}).get("ready") for n in names), 60, "three ready")

# ---- 1. one writer ----------------------------------------------------------------------------
pid = str(agent.proc.pid)
r = env.run("--once")
check(r.returncode == 3, "--once beside the daemon: exit %d, want 3: %s" % (r.returncode, r.stderr))
lines = [l for l in r.stderr.splitlines() if l.strip()]
check(len(lines) == 1 and ("process " + pid) in lines[0],
      "--once: not one line naming PID %s:\n%s" % (pid, r.stderr))
conf2 = os.path.join(env.tmp, "second.conf")
with open(conf2, "w") as f:
    f.write(open(env.conf).read().replace("127.0.0.1:%d" % env.port,
                                          "127.0.0.1:%d" % agentlib.candidate_port()))
r = subprocess.run([AGENT, "--config", conf2, "--foreground"], capture_output=True, text=True,
                   timeout=60, env=env.env())
check(r.returncode == 3 and ("process " + pid) in r.stderr,
      "second daemon: exit %d, want 3 naming %s: %s" % (r.returncode, pid, r.stderr))
agent.alive_or_fail()

# ---- 2. permissions ---------------------------------------------------------------------------
st = os.stat(sock)
check(st.st_mode & 0o7777 == 0o660, "socket mode %o, want 660" % (st.st_mode & 0o7777))
check(st.st_uid == 0 and st.st_gid == grp.getgrnam("mskpki").gr_gid,
      "socket owner %d:%d, want root:mskpki" % (st.st_uid, st.st_gid))
r = ctl(env, "status", "--live", user="mskpki")
check(r.returncode == 0, "a member of the agent's group: %d %s" % (r.returncode, r.stderr))
r = ctl(env, "renew", "--all", user="nobody")
check(r.returncode == 3 and "Permission denied" in r.stderr,
      "nobody: %d %s" % (r.returncode, r.stderr))
os.chmod(sock, 0o666)  # only the agent's own check is left
r = ctl(env, "renew", "--all", user="nobody")
check(r.returncode == 3 and "may not use the agent's control socket" in r.stderr,
      "nobody through a 0666 socket: %d %s" % (r.returncode, r.stderr))
wait_for(lambda: "event=control.refused uid=65534" in agent.text(), 10, "control.refused")
os.chmod(sock, 0o660)

# ---- 3. status --live, renew, reload -------------------------------------------------------
def raw(line):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(line)
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    return json.loads(data)


ans = raw(b"not json\n")
check(ans["ok"] is False and ans["code"] == "usage", "garbage request: %s" % ans)
ans = raw(b'{"cmd":"status","state_dir":"/elsewhere"}\n')
check(ans["ok"] is False and ans["code"] == "other_agent", "other state_dir: %s" % ans)
# A config of another state_dir on the same socket: as if no agent ran (3), nothing renewed.
other = os.path.join(env.tmp, "other.conf")
with open(other, "w") as f:
    f.write(open(env.conf).read().replace('state_dir = "%s"' % env.state_dir,
                                          'state_dir = "%s/other-state"' % env.tmp))
r = ctl(env, "renew", "--all", "--config", other)
check(r.returncode == 3 and "no mskpki-agent" in r.stderr, "other state_dir: %d %s" %
      (r.returncode, r.stderr))

view = live(env)
for n in names:
    check(view[n]["serial"] == serial_of(env.out(n)) and view[n]["ready"],
          "live %s: %s vs %s" % (n, view[n], serial_of(env.out(n))))
r = ctl(env, "status", "--live")
check(r.returncode == 0 and "a: ok" in r.stdout, "status --live table: %s" % r.stdout)

before = {n: serial_of(env.out(n)) for n in names}
r = ctl(env, "renew", "b")
check(r.returncode == 0 and r.stdout.startswith("b: renewed, serial "),
      "renew b: %d %s %s" % (r.returncode, r.stdout, r.stderr))
after = {n: serial_of(env.out(n)) for n in names}
check(after["b"] != before["b"] and after["a"] == before["a"] and after["c"] == before["c"],
      "renew b: %s -> %s" % (before, after))
check(env.state("b")["serial"] == after["b"] and info_serial(env, "b") == after["b"],
      "renew b: state/metrics not the new serial")
check(env.state("a")["serial"] == before["a"], "a's state changed")

r = ctl(env, "renew", "--all")
check(r.returncode == 0 and r.stdout.count(": renewed") == 3, "renew --all: %s" % r.stdout)
check(all(serial_of(env.out(n)) != after[n] for n in names), "renew --all left one")
r = ctl(env, "renew", "nosuch")
check(r.returncode == 2 and "nosuch" in r.stderr, "renew nosuch: %d %s" % (r.returncode, r.stderr))

planned = {n: env.state(n)["next_renewal"] for n in names}
loaded = agent.text().count("event=certificate.loaded")
r = ctl(env, "reload")
check(r.returncode == 0 and "reloaded" in r.stdout, "reload: %d %s" % (r.returncode, r.stderr))
check("event=config.reloaded" in agent.text(), "no config.reloaded after mskpkictl reload")
# The reload loads each certificate again; its jittered renewal time must not move (jitter 0.1
# here: a new draw would move it by minutes).
wait_for(lambda: agent.text().count("event=certificate.loaded") >= loaded + 3, 30,
         "the certificates loaded again after the reload")
for n in names:
    check(live(env)[n]["next_renewal"] == planned[n],
          "%s: next_renewal moved by the reload: %s -> %s" % (n, planned[n],
                                                              live(env)[n]["next_renewal"]))
good = open(env.conf).read()
with open(env.conf, "a") as f:
    f.write("\nbogus_setting = 1;\n")
# mskpkictl reads the file too: the agent's answer is what is tested, so ask through a copy.
ctl_conf = os.path.join(env.tmp, "ctl.conf")
with open(ctl_conf, "w") as f:
    f.write(good)
r = ctl(env, "reload", "--config", ctl_conf)
check(r.returncode == 1 and "bogus_setting" in r.stderr,
      "reload of a broken config: %d %s" % (r.returncode, r.stderr))
with open(env.conf, "w") as f:
    f.write(good)
agent.alive_or_fail()

old_b = serial_of(env.out("b"))
r = env.run("--renew", "b")
check(r.returncode == 0 and "by the running agent" in r.stdout,
      "--renew beside the daemon: %d %s %s" % (r.returncode, r.stdout, r.stderr))
check(serial_of(env.out("b")) != old_b and env.state("b")["serial"] == serial_of(env.out("b")),
      "--renew through the daemon did not renew b")

# ---- 4. cert issue and revoke through the daemon ---------------------------------------------
old_a = os.path.join(env.tmp, "old-a.crt")
shutil.copy(env.out("a"), old_a)
r = ctl(env, "cert", "issue", "--name", "a")
check(r.returncode == 0 and "by the running agent" in r.stdout,
      "cert issue: %d %s %s" % (r.returncode, r.stdout, r.stderr))
new_a = serial_of(env.out("a"))
check(new_a != serial_of(old_a), "cert issue did not issue")
# The old one is no longer in use: revoked without --replace.
r = ctl(env, "cert", "revoke", "--cert", old_a, "--reason", "SUPERSEDED")
check(r.returncode == 0 and "running agent" in r.stdout,
      "revoke of the replaced cert: %d %s %s" % (r.returncode, r.stdout, r.stderr))
check(env.state("a")["serial"] == new_a, "state file: %s, want %s" % (env.state("a"), new_a))
check(info_serial(env, "a") == new_a, "mskpki_certificate_info: %s" % info_serial(env, "a"))
check(live(env)["a"]["serial"] == new_a, "status --live after revoke")
r = ctl(env, "status", "--format", "json")
check([c for c in json.loads(r.stdout)["certificates"] if c["name"] == "a"][0]["serial"] == new_a,
      "mskpkictl status after issue + revoke: %s" % r.stdout)
revoked = json.load(open(os.path.join(env.ca_dir, "revoked.json")))
check(serial_of(old_a).lstrip("0") in json.dumps(revoked).upper(), "not in revoked.json")

# The certificate in use: refused, then --replace.
in_use = os.path.join(env.tmp, "in-use-a.crt")
shutil.copy(env.out("a"), in_use)
r = ctl(env, "cert", "revoke", "--cert", in_use, "--reason", "KEY_COMPROMISE")
check(r.returncode == 2 and "--replace" in r.stderr and "--force" in r.stderr,
      "revoke of the cert in use: %d %s" % (r.returncode, r.stderr))
check(serial_of(env.out("a")) == new_a, "a refused revoke changed a")
r = ctl(env, "cert", "revoke", "--cert", in_use, "--reason", "KEY_COMPROMISE", "--replace")
check(r.returncode == 0 and "replaced a first" in r.stdout,
      "--replace: %d %s %s" % (r.returncode, r.stdout, r.stderr))
newer_a = serial_of(env.out("a"))
check(newer_a != new_a and env.state("a")["serial"] == newer_a and
      info_serial(env, "a") == newer_a, "--replace: a is not on a new certificate")
revoked = json.load(open(os.path.join(env.ca_dir, "revoked.json")))
check(new_a.lstrip("0") in json.dumps(revoked).upper(), "--replace did not revoke")

agent.stop()

# ---- 5. no agent ------------------------------------------------------------------------------
for args in (("renew", "a"), ("renew", "--all"), ("reload",), ("status", "--live")):
    r = ctl(env, *args)
    check(r.returncode == 3, "%s without an agent: %d %s" % (args, r.returncode, r.stderr))
r = ctl(env, "cert", "issue", "--name", "c")
check(r.returncode == 0 and "running agent" not in r.stdout,
      "cert issue alone: %d %s %s" % (r.returncode, r.stdout, r.stderr))
# Without an agent cert revoke checks the certificate in use itself; --replace issues here.
in_use = os.path.join(env.tmp, "in-use-c.crt")
shutil.copy(env.out("c"), in_use)
r = ctl(env, "cert", "revoke", "--cert", in_use, "--reason", "SUPERSEDED")
check(r.returncode == 2 and "--replace" in r.stderr, "revoke in use alone: %d %s" % (r.returncode, r.stderr))
r = ctl(env, "cert", "revoke", "--cert", in_use, "--reason", "SUPERSEDED", "--replace")
check(r.returncode == 0 and serial_of(env.out("c")) != serial_of(in_use),
      "--replace alone: %d %s %s" % (r.returncode, r.stdout, r.stderr))
revoked = json.load(open(os.path.join(env.ca_dir, "revoked.json")))
check(serial_of(in_use).lstrip("0") in json.dumps(revoked).upper(), "--replace alone did not revoke")
# Another writer holds the lock (this process, as --once would).
with open(os.path.join(env.state_dir, "agent.lock"), "r+") as lk:
    fcntl.flock(lk, fcntl.LOCK_EX | fcntl.LOCK_NB)
    lk.seek(0)
    lk.truncate()
    lk.write("%d\n" % os.getpid())
    lk.flush()
    r = ctl(env, "cert", "issue", "--name", "c")
    check(r.returncode == 3 and ("process %d" % os.getpid()) in r.stderr,
          "cert issue under a held lock: %d %s" % (r.returncode, r.stderr))
    r = env.run("--renew", "c")
    check(r.returncode == 3 and ("process %d" % os.getpid()) in r.stderr,
          "--renew under a held lock: %d %s" % (r.returncode, r.stderr))
done("control")
