#!/usr/bin/env python3
"""The network process without Landlock (issue 9: "Landlock where the kernel has it, else ...").

Test builds honour MSKPKI_TEST_NO_LANDLOCK=1: the network process acts as if the kernel had no
Landlock and takes the fallback (agent/sandbox.c agent_sandbox_hide_paths): a user namespace and
a mount namespace of its own, an empty 0000 tmpfs over each output directory and the local CA's
directory, /dev/null over each secret file, no capability left.  Through MSKPKI_TEST_PROBE the
network process then tries to open the client key, the CA key, the passphrase file, the output
directory and the client key again through the supervisor's /proc/<pid>/root: every attempt
must fail while its state file still opens, and rotations still complete.  The first start is a
first run (no output or CA directory yet), so the directories the key process makes later must
be beneath the cover too.  A reload that adds a certificate names its new directory as not
hidden and keeps working.  Started as root, the network process becomes agent.user (mskpki):
its mount namespace comes without a user namespace (userns=no; the uid it becomes would not be
mapped in one).  Then the two degraded cases, made with a user namespace whose limit is 0
(userns_run.py, max_user_namespaces = 0): as root with CAP_SYS_ADMIN a mount namespace alone
(userns=no); without CAP_SYS_ADMIN either (capsh) no namespace: one warning with fallback=none
and a reason; the agent works, and the key stays out of reach all the same, by the uid."""
import os
import pwd
import shutil
import signal
import subprocess
import sys

import agentlib
from agentlib import Env, check, done, wait_for

EACCES, EPERM, ENOENT = 13, 1, 2
DENIED = (EACCES, EPERM, ENOENT)


def probes(text):
    return {l.split("what=")[1].split()[0]: int(l.split("errno=")[1].split()[0])
            for l in text.splitlines() if "event=test.probe" in l and "errno=" in l}


def net_pid(agent):
    def find():
        try:
            with open("/proc/%d/task/%d/children" % (agent.proc.pid, agent.proc.pid)) as f:
                kids = [int(p) for p in f.read().split()]
        except OSError:
            return None
        for k in kids:
            try:
                with open("/proc/%d/comm" % k) as f:
                    if f.read().strip() == "mskpki-netproc":
                        return k
            except OSError:
                pass
        return None
    return wait_for(find, 30, "the network process")


def status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)


def rotate(env, agent, name="client"):
    n0 = agent.text().count("event=rotation.success name=%s" % name)
    agent.signal(signal.SIGUSR1)
    wait_for(lambda: agent.text().count("event=rotation.success name=%s" % name) > n0, 60,
             "a rotation of %s inside the sandbox" % name)


env = Env(validity="1h")
pass_file = os.path.join(env.tmp, "key.pass")
with open(os.open(pass_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
    f.write("nolandlock-test-passphrase\n")
env.output_extra = 'key_passphrase_file = "%s";' % pass_file
env.write_config()
key_file = env.out("client", "client.key")
out_dir = os.path.dirname(key_file)
ca_key = os.path.join(env.ca_dir, "ca.key")
state_file = os.path.join(env.state_dir, "client.json")
check(not os.path.exists(out_dir) and not os.path.exists(env.ca_dir), "not a first run")
want = ["open:" + p for p in (key_file, ca_key, pass_file, out_dir, state_file)]
want.append("supopen:" + key_file)

# ---- First run with the fallback: the keys are made, and stay out of the network's reach. ----
agent = env.start(extra_env={"MSKPKI_TEST_NO_LANDLOCK": "1", "MSKPKI_TEST_PROBE": ",".join(want)})
wait_for(lambda: len(probes(agent.text())) == len(want), 60, "the probe results")
text = agent.text()
check("event=sandbox.landlock_unavailable fallback=mount_namespace userns=no" in text,
      "the log does not say the fallback applied:\n" + text)
check("event=sandbox.not_hidden" not in text, "a key path left in reach at start:\n" + text)
wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "client"}) == 1, 60, "ready")
check(os.path.exists(key_file) and os.path.exists(ca_key), "no key files were written")
got = probes(agent.text())
for p in (key_file, ca_key, pass_file, out_dir):
    check(got["open:" + p] in DENIED, "the network process opened %s: %r" % (p, got))
check(got["supopen:" + key_file] in DENIED,
      "the network process reached the key through /proc/<supervisor>/root: %r" % got)
check(got["open:" + state_file] == 0, "the network process cannot open its state file: %r" % got)
# Landlock is off in this process (the switch), so what stops it is the fallback's doing.
net = net_pid(agent)
st = status(net)
for field in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
    check(int(st[field], 16) == 0, "the network process kept capabilities: %s %s" % (field,
                                                                                     st[field]))
check(st["NoNewPrivs"] == "1", "no no_new_privs in the network process")
check(all(int(u) == pwd.getpwnam("mskpki").pw_uid for u in st["Uid"].split()),
      "the network process is not agent.user: %s" % st["Uid"])
for ns in ("mnt",):
    check(os.readlink("/proc/%d/ns/%s" % (net, ns)) != os.readlink("/proc/%d/ns/%s" %
                                                                   (agent.proc.pid, ns)),
          "the network process shares the supervisor's %s namespace" % ns)
# The outside sees the real files; a forced rotation goes through the key process and the state
# file is rewritten from inside.
serial = agentlib.serial_of(env.out("client"))
state0 = os.stat(state_file).st_mtime_ns
rotate(env, agent)
check(agentlib.serial_of(env.out("client")) != serial, "the certificate was not replaced")
wait_for(lambda: os.stat(state_file).st_mtime_ns != state0, 30, "the state file rewritten")
check(env.state() is not None, "the state file is unreadable")
agentlib.openssl_verify_client(env)
status_code, body = env.scrape()
check(status_code == 200 and "mskpki_certificate_ready" in body, "metrics not served")

# ---- A reload cannot hide what it adds: it says so, and keeps working. ----
env.names = ["client", "other"]
env.write_config()
agent.signal(signal.SIGHUP)
other_dir = os.path.dirname(env.out("other", "client.key"))
wait_for(lambda: "event=sandbox.not_hidden path=%s reason=reload" % other_dir in agent.text(),
         30, "the warning naming the new directory")
wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "other"}) == 1, 60,
         "the added certificate issued")
check("event=sandbox.not_hidden path=%s " % out_dir not in agent.text(),
      "a reload reports the hidden directory as in reach")
rotate(env, agent)
agent.stop()
check("event=sandbox.failed" not in agent.text(), "sandbox.failed in the log")


# ---- Degraded: no user namespace allowed (its limit is 0 in a user namespace of the test). ----
def degraded(capsh):
    """Starts the agent (still uid 0, in a user namespace of its own whose max_user_namespaces
    is 0, optionally without CAP_SYS_ADMIN) with the same switch and probes."""
    inner = [agentlib.AGENT, "--config", env.conf, "--foreground"]
    if capsh:
        inner = ["capsh", "--drop=cap_sys_admin", "--", "-c", 'exec "$@"', "capsh"] + inner
    argv = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "userns_run.py")] + inner
    env.names = ["client"]
    env.write_config()
    real = agentlib.AGENT
    a = agentlib.Agent.__new__(agentlib.Agent)
    a.env = env
    a.log_path = os.path.join(env.tmp, "agent-degraded-%d.log" % capsh)
    a.log = open(a.log_path, "w")
    a.proc = subprocess.Popen(argv, env=env.env({"MSKPKI_TEST_NO_LANDLOCK": "1",
                                                 "MSKPKI_TEST_PROBE": ",".join(want)}),
                              stdout=a.log, stderr=subprocess.STDOUT)
    agentlib._children.append(a.proc)
    wait_for(lambda: a.alive_or_fail() and len(probes(a.text())) == len(want), 60,
             "the probe results (%s)" % real)
    return a


if shutil.which("unshare") is None or shutil.which("capsh") is None or \
        subprocess.run(["unshare", "-U", "-r", "true"]).returncode != 0:
    print("note: no unshare/capsh or no user namespaces here: the degraded cases are not run")
    done("privsep_nolandlock")
    sys.exit(0)

agent = degraded(False)
text = agent.text()
check("event=sandbox.landlock_unavailable fallback=mount_namespace userns=no" in text,
      "root without user namespaces should get a mount namespace alone:\n" + text)
got = probes(text)
for p in (key_file, ca_key, pass_file, out_dir):
    check(got["open:" + p] in DENIED, "the network process opened %s: %r" % (p, got))
check(got["supopen:" + key_file] in DENIED,
      "without a user namespace the key is reachable through /proc: %r" % got)
check(got["open:" + state_file] == 0, "the network process cannot open its state file: %r" % got)
rotate(env, agent)
agent.stop()

agent = degraded(True)
text = agent.text()
lines = [l for l in text.splitlines() if "event=sandbox.landlock_unavailable" in l]
check(len(lines) == 1 and "fallback=none reason=\"unshare(CLONE_NEWNS)" in lines[0],
      "want one fallback=none warning with the refused call:\n" + text)
got = probes(text)
# No namespace, but agent.user: the key (root's, 0600) stays out of reach by the uid alone, and
# the probes are live: the state file opens.
check(got["open:" + key_file] == EACCES, "without a namespace the key is not the uid's: %r" % got)
check(got["open:" + state_file] == 0, "the network process cannot open its state file: %r" % got)
rotate(env, agent)
agent.stop()
done("privsep_nolandlock")
