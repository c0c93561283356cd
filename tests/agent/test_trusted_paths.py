#!/usr/bin/env python3
"""Hooks and directories are trusted only when they and every directory above them are owned by
root or the agent's user and writable by no one else (OpenSSH's StrictModes; conf/paths.c):
--check-config refuses the others with exit 2 and one line naming the path, and the supervisor
refuses a hook that became unsafe after the start (event=hook.refused), without running it."""
import os
import pwd
import signal
import subprocess
import time

from agentlib import AGENT, Env, check, done, wait_for

ROOT = os.geteuid() == 0
NOBODY = pwd.getpwnam("nobody").pw_uid


def hook_env(tmp_sub="hooks", prog="h.sh"):
    env = Env(hook=False)
    hooks = os.path.join(env.tmp, tmp_sub)
    os.makedirs(hooks, 0o755, exist_ok=True)
    os.chmod(hooks, 0o755)
    path = os.path.join(hooks, prog)
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho ran >> %s/hook-ran\n" % env.tmp)
    os.chmod(path, 0o755)
    env.cert_extra = 'hook = { command = [ "%s" ]; timeout = "5s"; };' % path
    env.write_config()
    return env, hooks, path


def refused(env, *needles):
    r = env.run("--check-config")
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 2, "expected exit 2, got %d: %r" % (r.returncode, r.stderr))
    check(len(lines) == 1, "not one line: %r" % r.stderr)
    for n in needles:
        check(n in lines[0], "%r not in %r" % (n, lines[0]))
    return lines[0]


def accepted(env):
    r = env.run("--check-config")
    check(r.returncode == 0, "expected exit 0: %d %r" % (r.returncode, r.stderr))


# A good hook passes.
env, hooks, prog = hook_env()
accepted(env)
# A group-writable program.
os.chmod(prog, 0o775)
refused(env, "hook program " + prog, "is writable by its group (mode 0775)", env.conf)
os.chmod(prog, 0o755)
# The program in a directory writable by others.
os.chmod(hooks, 0o777)
refused(env, "hook program " + prog, hooks + " is writable by everyone (mode 0777)")
os.chmod(hooks, 0o755)
if ROOT:
    # A directory above the program owned by another user.
    os.chown(hooks, NOBODY, NOBODY)
    refused(env, hooks + " is owned by uid %d (only root or mskpki may own it)" % NOBODY)
    # Owned by the agent's user: fine.
    m = pwd.getpwnam("mskpki")
    os.chown(hooks, m.pw_uid, m.pw_gid)
    accepted(env)
    os.chown(hooks, 0, 0)
# A link to a program in a world-writable place.
bad = os.path.join(env.tmp, "shared")
os.mkdir(bad, 0o755)
os.chmod(bad, 0o1777)
with open(os.path.join(bad, "x.sh"), "w") as f:
    f.write("#!/bin/sh\n")
os.chmod(os.path.join(bad, "x.sh"), 0o755)
os.unlink(prog)
os.symlink(os.path.join(bad, "x.sh"), prog)
refused(env, bad + " is writable by everyone (mode 1777): a shared directory is not safe")
os.unlink(prog)
# A missing program.
r = env.run("--check-config")
check(r.returncode == 2 and prog in r.stderr, "missing program: %r" % r.stderr)
# A hook beneath state_dir: the network process writes there.
env2, _, prog2 = hook_env()
st_hook = os.path.join(env2.state_dir, "h.sh")
env2.cert_extra = 'hook = { command = [ "%s" ]; };' % st_hook
env2.write_config()
refused(env2, "hook program %s is beneath state_dir" % st_hook)

# The configuration beneath state_dir: the network process writes there.
os.makedirs(env2.state_dir, 0o755, exist_ok=True)
inside = os.path.join(env2.state_dir, "mskpki.conf")
with open(inside, "w") as f:
    f.write(env2.config_text().replace(st_hook, prog2))
r = subprocess.run([AGENT, "--config", inside, "--check-config"], capture_output=True, text=True)
check(r.returncode == 2 and "the configuration is beneath state_dir" in r.stderr,
      "config beneath state_dir: %d %r" % (r.returncode, r.stderr))

# Directories: state_dir and output directories up to /.
env3 = Env(hook=False)
accepted(env3)
text = env3.config_text()
env3.write_config(text.replace('state_dir = "%s/state"' % env3.tmp, 'state_dir = "/tmp/mskpki-st"'))
refused(env3, "state_dir /tmp/mskpki-st: /tmp is writable by everyone (mode 1777)")
# The issue's own case: state_dir = "/tmp" itself (sticky, shared) fails --check-config.
env3.write_config(text.replace('state_dir = "%s/state"' % env3.tmp, 'state_dir = "/tmp"'))
refused(env3, "state_dir /tmp: /tmp is writable by everyone (mode 1777)")
out_parent = os.path.join(env3.tmp, "out")
env3.write_config(text)
os.chmod(out_parent, 0o777)
refused(env3, "output.directory %s/client: %s is writable by everyone" % (out_parent, out_parent))
os.chmod(out_parent, 0o775)
refused(env3, "is writable by its group (mode 0775)")
os.chmod(out_parent, 0o755)
if ROOT:
    # Issue 16 item 11: only the last component used to be checked.
    os.chown(out_parent, NOBODY, NOBODY)
    refused(env3, "%s is owned by uid %d" % (out_parent, NOBODY))
    os.chown(out_parent, 0, 0)
    os.chmod(env3.tmp, 0o711)
    os.chown(env3.tmp, NOBODY, NOBODY)
    refused(env3, "state_dir %s/state: %s is owned by uid %d" % (env3.tmp, env3.tmp, NOBODY))
    # The daemon itself refuses to start, with the same line.
    r = env3.run(timeout=30)
    check(r.returncode == 2 and "is owned by uid %d" % NOBODY in r.stderr, "start: %r" % r.stderr)
    os.chown(env3.tmp, 0, 0)
    # As root, agent.user must exist: exit 2 naming the fix.
    env3.write_config(text + '\nagent = { user = "mskpki-no-such-user"; };\n')
    line = refused(env3, "agent.user 'mskpki-no-such-user' does not exist", "useradd --system")
    env3.write_config(text + '\nagent = { user = "root"; };\n')
    refused(env3, "agent.user 'root' is root")
    env3.write_config(text)
    accepted(env3)
    # The network process (mskpki) must reach state_dir and read the configuration.
    os.chmod(env3.tmp, 0o700)
    refused(env3, "agent.user mskpki cannot reach state_dir %s/state: %s is mode 0700"
            % (env3.tmp, env3.tmp))
    os.chmod(env3.tmp, 0o711)
    os.chmod(env3.conf, 0o600)
    refused(env3, "agent.user mskpki cannot read the configuration %s (mode 0600" % env3.conf)
    os.chmod(env3.conf, 0o644)
    accepted(env3)

# At run time: a hook that became unsafe after the start is refused, not run.
env4, hooks4, prog4 = hook_env()
env4.validity = "1h"
agent = env4.start()
ran = os.path.join(env4.tmp, "hook-ran")
wait_for(lambda: os.path.exists(ran), 30, "the first hook to run")
os.unlink(ran)
os.chmod(hooks4, 0o777)
agent.signal(signal.SIGUSR1)
wait_for(lambda: "event=hook.refused" in agent.text(), 30, "hook.refused in the log")
line = [l for l in agent.text().splitlines() if "event=hook.refused" in l][0]
check(hooks4 + " is writable by everyone" in line, "refusal does not name the path: %r" % line)
time.sleep(1)
check(not os.path.exists(ran), "the unsafe hook ran")
os.chmod(hooks4, 0o755)
agent.stop()
done("trusted_paths")
