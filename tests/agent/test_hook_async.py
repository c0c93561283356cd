#!/usr/bin/env python3
"""Hooks run asynchronously in the supervisor (issue 16): while a slow hook runs it still handles
its children and signals; the timeout kills the hook's whole process group, grandchildren too;
SIGTERM during a hook ends the hook (its group), then the agent, long before the timeout."""
import os
import signal
import time

from agentlib import Env, check, done, wait_for


def gone(pid):
    """True when pid no longer runs (absent, or a zombie waiting for its reaper)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def read_pid(path):
    def get():
        try:
            with open(path) as f:
                v = f.read().strip()
            return int(v) if v else None
        except (OSError, ValueError):
            return None
    return wait_for(get, 30, path)


def hook_env(timeout):
    env = Env(hook=False)
    hooks = os.path.join(env.tmp, "hooks")
    os.mkdir(hooks, 0o755)
    prog = os.path.join(hooks, "slow.sh")
    with open(prog, "w") as f:
        f.write("#!/bin/sh\n"
                "sleep 300 &\n"
                "echo $! > %(t)s/grandchild.tmp; mv %(t)s/grandchild.tmp %(t)s/grandchild\n"
                "echo $$ > %(t)s/hook.tmp; mv %(t)s/hook.tmp %(t)s/hookpid\n"
                "wait\n" % {"t": env.tmp})
    os.chmod(prog, 0o755)
    env.cert_extra = 'hook = { command = [ "%s" ]; timeout = "%s"; };' % (prog, timeout)
    env.write_config()
    return env


# 1. The timeout kills the process group, grandchildren included.
env = hook_env("2s")
agent = env.start()
hook = read_pid(os.path.join(env.tmp, "hookpid"))
grandchild = read_pid(os.path.join(env.tmp, "grandchild"))
wait_for(lambda: "killed after 2 s timeout" in agent.text(), 30, "the hook's timeout")
wait_for(lambda: gone(hook) and gone(grandchild), 10, "the hook's group to die")
agent.stop()

# 2. A slow hook (60 s): the supervisor still sees a child die meanwhile ...
env = hook_env("60s")
agent = env.start()
hook = read_pid(os.path.join(env.tmp, "hookpid"))
grandchild = read_pid(os.path.join(env.tmp, "grandchild"))
kids = open("/proc/%d/task/%d/children" % (agent.proc.pid, agent.proc.pid)).read().split()
keyproc = [int(k) for k in kids if open("/proc/%s/comm" % k).read().strip() == "mskpki-keyproc"]
check(len(keyproc) == 1, "no key process among %r" % kids)
os.kill(keyproc[0], signal.SIGKILL)
wait_for(lambda: "event=supervisor.child_died process=keyproc" in agent.text(), 5,
         "the supervisor to notice the key process died while the hook runs")
check(not gone(hook), "the hook ended early: the check above proves nothing")
# ... and SIGTERM ends the hook's group, then the agent, long before the hook's timeout.
t0 = time.monotonic()
agent.proc.send_signal(signal.SIGTERM)
rc = agent.proc.wait(timeout=20)
elapsed = time.monotonic() - t0
check(elapsed < 10, "the agent took %.1f s to stop during a hook" % elapsed)
check("event=hook.stopping" in agent.text(), "no hook.stopping line:\n" + agent.text())
wait_for(lambda: gone(hook) and gone(grandchild), 10, "the hook's group to end on SIGTERM")
check(rc in (0, 1), "exit status %d" % rc)
done("hook_async")
