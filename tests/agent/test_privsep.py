#!/usr/bin/env python3
"""Privilege separation (docs/design.md): the agent runs as a supervisor with two children, the
key process (seccomp: no sockets) and the network process (Landlock: no key files).  Through the
test-only MSKPKI_TEST_PROBE hook the network process tries to open key files and to make the key
process connect to a listening socket: both must fail (EACCES, EPERM) while the files the
network process needs stay open to it.  A killed child is restarted with its peer; a child
killed by seccomp's SIGSYS counts as misbehaviour and stops the agent with exit status 1."""
import os
import signal
import socket

from agentlib import Env, check, done, wait_for


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = [int(p) for p in f.read().split()]
    except OSError:
        return {}
    out = {}
    for k in kids:
        try:
            with open("/proc/%d/comm" % k) as f:
                out[f.read().strip()] = k
        except OSError:
            pass
    return out


def status_field(pid, name):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split()[1]
    return None


def roles(agent):
    # A child names itself right after fork: wait until both have.
    want = {"mskpki-keyproc", "mskpki-netproc"}
    kids = wait_for(lambda: (lambda c: c if set(c) == want else None)(children(agent.proc.pid)),
                    30, "the two children %s" % sorted(want))
    return kids["mskpki-keyproc"], kids["mskpki-netproc"]


def probes(text):
    return {l.split("what=")[1].split()[0]: int(l.split("errno=")[1].split()[0])
            for l in text.splitlines() if "event=test.probe" in l and "errno=" in l}


env = Env(validity="1h")
agent = env.start()
wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "client"}) == 1, 60, "ready")
key, net = roles(agent)
check(status_field(key, "Seccomp") == "2", "the key process has no seccomp filter")
check(status_field(net, "Seccomp") == "0", "the network process should have no seccomp filter")
check(status_field(net, "NoNewPrivs") == "1", "the network process is not sandboxed")
agent.stop()

# ---- The probes: the network process cannot open keys; the key process cannot connect. ----
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.bind(("127.0.0.1", 0))
listener.listen(4)
listener.setblocking(False)
port = listener.getsockname()[1]
key_file = env.out("client", "client.key")
ca_key = os.path.join(env.tmp, "ca", "ca.key")
state_file = os.path.join(env.state_dir, "client.json")
check(os.path.exists(key_file) and os.path.exists(ca_key), "no key files to probe")
# keygetfd: the key process tries to copy a descriptor out of the network process with
# pidfd_getfd (same uid, so only seccomp stops it): a socket would be one call away.
probe = "open:%s,open:%s,open:%s,keyconnect:%d,keygetfd" % (key_file, ca_key, state_file, port)
agent = env.start(extra_env={"MSKPKI_TEST_PROBE": probe})
wait_for(lambda: len(probes(agent.text())) == 5, 30, "the probe results")
got = probes(agent.text())
landlock = "event=sandbox.landlock_unavailable" not in agent.text()
if landlock:
    check(got["open:" + key_file] == 13, "network process opened the key: %r" % got)
    check(got["open:" + ca_key] == 13, "network process opened the CA key: %r" % got)
else:
    print("note: no Landlock in this kernel; the open probes are not asserted")
check(got["open:" + state_file] == 0, "network process cannot open its state file: %r" % got)
check(got["keyconnect:%d" % port] == 1, "key process connect errno %r (want EPERM)" % got)
check(got["keygetfd"] == 1, "key process pidfd_getfd errno %r (want EPERM)" % got)
try:
    listener.accept()
    check(False, "the key process reached the listening socket")
except BlockingIOError:
    pass
listener.close()

# ---- A dead child is restarted with its peer; the agent keeps working. ----
key, net = roles(agent)
os.kill(key, signal.SIGKILL)
wait_for(lambda: "event=supervisor.restart" in agent.text(), 30, "a restart after the kill")
key2, net2 = roles(agent)
check(key2 != key and net2 != net, "the pair was not restarted")
wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "client"}) == 1, 60,
         "ready after the restart")
n0 = agent.text().count("event=rotation.success")
agent.signal(signal.SIGUSR1)
wait_for(lambda: agent.text().count("event=rotation.success") > n0, 60,
         "a rotation through the restarted key process")
os.kill(net2, signal.SIGKILL)
wait_for(lambda: agent.text().count("event=supervisor.restart") >= 2, 30, "a second restart")
wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "client"}) == 1, 60,
         "ready after the network process restart")

# ---- Death by seccomp is misbehaviour: everything stops, exit status 1. ----
key3, _ = roles(agent)
os.kill(key3, signal.SIGSYS)
rc = agent.proc.wait(timeout=60)
check(rc == 1, "exit status %d after the key process died by SIGSYS" % rc)
check("event=supervisor.misbehaviour process=keyproc" in agent.text(), "no misbehaviour line")
check(not children(agent.proc.pid), "children left behind")
done("privsep")
