#!/usr/bin/env python3
"""A failed hook is not forgotten (issue 17, item 7).

The failure persists in the state file ("hook_failures") and the next run runs the hook again,
whether it is --once or the daemon; --once logs no retry_in (nothing in it retries: it says
retry=next_run), for a hook or a rotation; and with log.target = "syslog" a failure of --once
(and of a start) still reaches stderr."""
import os

from agentlib import Env, check, done, wait_for

env = Env(validity="1h", hook=False)
flag = os.path.join(env.tmp, "hook-fails")
log = os.path.join(env.tmp, "hook-ok.log")
# The hook fails while the flag file exists, and notes each success.
env.cert_extra = ('hook = { command = "test ! -e %s && echo ok >> %s"; shell = true; '
                  'timeout = "10s"; };' % (flag, log))
env.write_config()


def successes():
    try:
        with open(log) as f:
            return len(f.read().splitlines())
    except OSError:
        return 0


def hook_failures():
    return (env.state() or {}).get("hook_failures")


open(flag, "w").close()
r = env.run("--once")
check(r.returncode == 1, "--once with a failing hook exited %d:\n%s" % (r.returncode, r.stderr))
check("event=hook.failure" in r.stderr and "retry=next_run" in r.stderr, r.stderr)
check("retry_in" not in r.stderr, "--once logged retry_in:\n" + r.stderr)
check(hook_failures() == 1, "hook failure not in the state file: %r" % env.state())
gen = env.state()["generation"]

# Still failing: the next --once runs the hook again (no rotation: not due) and says so.
r = env.run("--once")
check(r.returncode == 1, "second --once exited %d:\n%s" % (r.returncode, r.stderr))
check("event=hook.pending" in r.stderr and "event=hook.failure" in r.stderr, r.stderr)
check(hook_failures() == 2 and env.state()["generation"] == gen, "state: %r" % env.state())

# Fixed: the next --once runs it, it succeeds, the state forgets the failure.
os.unlink(flag)
r = env.run("--once")
check(r.returncode == 0, "--once after the fix exited %d:\n%s" % (r.returncode, r.stderr))
check(successes() == 1 and hook_failures() == 0, "hook not re-run: %d %r"
      % (successes(), env.state()))
# Nothing pending any more: no further run of the hook.
r = env.run("--once")
check(r.returncode == 0 and successes() == 1, "hook ran again with nothing pending")

# The daemon picks up a failure that a --renew left behind.
open(flag, "w").close()
r = env.run("--renew", "client")
check(r.returncode == 1 and hook_failures() == 1, "--renew: %d %r" % (r.returncode, env.state()))
os.unlink(flag)
agent = env.start()
wait_for(lambda: successes() == 2 and hook_failures() == 0, 30,
         "the daemon to run the pending hook")
check("event=hook.pending" in agent.text(), "no hook.pending line:\n" + agent.text())
agent.stop()

# A rotation failure under --once: no retry_in either.
open(env.fail_file, "w").close()
r = env.run("--renew", "client")
check(r.returncode == 1 and "event=rotation.failure" in r.stderr, r.stderr)
check("retry=next_run" in r.stderr and "retry_in" not in r.stderr, r.stderr)
os.unlink(env.fail_file)

# log.target = "syslog": the failure of --once still reaches stderr (warnings and errors).
with open(env.conf) as f:
    text = f.read()
env.write_config(text.replace('log = { level = "debug"; };',
                              'log = { level = "debug"; target = "syslog"; };'))
open(env.fail_file, "w").close()
r = env.run("--renew", "client")
check(r.returncode == 1, "--renew under syslog exited %d" % r.returncode)
check("event=rotation.failure" in r.stderr, "syslog target: nothing on stderr:\n" + r.stderr)
check("event=certificate.loaded" not in r.stderr, "info lines echoed too:\n" + r.stderr)
os.unlink(env.fail_file)
# A state file that cannot be written is not a success of --once (status would stay blind).
with open(env.conf) as f:
    text = f.read()
env.write_config(text.replace('target = "syslog"; ', ''))
state_file = os.path.join(env.state_dir, "client.json")
os.unlink(state_file)
os.mkdir(state_file)  # rename(2) over a directory fails
r = env.run("--once")
check(r.returncode == 1 and "event=state.write_failed" in r.stderr,
      "--once with an unwritable state file exited %d:\n%s" % (r.returncode, r.stderr))
os.rmdir(state_file)
done("hook_retry")
