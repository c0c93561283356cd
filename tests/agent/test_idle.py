#!/usr/bin/env python3
"""(5) An idle agent does not wake up.  Three independent proofs, none a timing margin:
  - the agent's own counter, mskpki_agent_wakeups_total, stays the same across an idle interval,
    and a signal does move it (so the counter is live);
  - the kernel's count of context switches of every thread of the three processes (supervisor,
    key process, network process with the metrics thread) does not move over an idle interval
    in which nobody scrapes: any timeout-driven poll, sleep or thread tick would switch (this is
    what strace would show, read from /proc without slowing the agent down);
  - the network process's only timer is armed at the planned renewal (next_renewal of the state
    file, days ahead), not at a polling interval.
The idle interval only bounds how long we look; nothing is asserted about how long anything
takes."""
import glob
import os
import signal
import time

from agentlib import Env, check, done, wait_for

IDLE = 3  # seconds of observation: any periodic wake-up of a second or more would show


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(p) for p in f.read().split()]


def switches(pids):
    """{(pid, tid, comm): voluntary + nonvoluntary context switches} for every thread."""
    out = {}
    for pid in pids:
        for task in glob.glob("/proc/%d/task/*" % pid):
            try:
                with open(task + "/status") as f:
                    fields = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
                with open(task + "/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            out[(pid, os.path.basename(task), comm)] = (int(fields["voluntary_ctxt_switches"]) +
                                                        int(fields["nonvoluntary_ctxt_switches"]))
    return out


def timerfds(pid):
    """[(clockid, seconds until it fires, interval seconds)] for each timerfd of pid."""
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if "timerfd" not in os.readlink("/proc/%d/fd/%s" % (pid, fd)):
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                info = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        except OSError:
            continue
        value = info["it_value"].strip().strip("()").split(",")
        interval = info["it_interval"].strip().strip("()").split(",")
        out.append((int(info["clockid"]), int(value[0]) + int(value[1]) / 1e9,
                    int(interval[0]) + int(interval[1]) / 1e9))
    return out


env = Env(validity="30d")
agent = env.start()
wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "client"}) == 1, 60, "ready")

# The agent's own count.
w1 = env.metric("mskpki_agent_wakeups_total")
time.sleep(IDLE)
w2 = env.metric("mskpki_agent_wakeups_total")
check(w1 is not None and w1 == w2, "wake-ups moved while idle: %s -> %s" % (w1, w2))

# The kernel's count, with no scrape in the interval (a scrape wakes the metrics thread).
kids = children(agent.proc.pid)
check(len(kids) == 2, "expected the key and network processes, got %r" % kids)
pids = [agent.proc.pid] + kids
# The last scrape's connection may still be closing: start from a quiet half second.  An agent
# that wakes up periodically never gets one, and fails here.


def quiet():
    a = switches(pids)
    time.sleep(0.5)
    return a if switches(pids) == a else None


before = wait_for(quiet, 30, "a quiet half second after the last scrape")
time.sleep(IDLE)
after = switches(pids)
check(len(before) >= 4, "too few threads seen: %r" % sorted(before))
moved = {k: (before[k], after.get(k)) for k in before if after.get(k) != before[k]}
check(not moved, "threads woke up while idle (context switches before, after): %r" % moved)

# The one timer: realtime (clockid 0), one-shot, armed at the renewal planned in the state file.
net = [p for p in kids if open("/proc/%d/comm" % p).read().strip() == "mskpki-netproc"][0]
timers = timerfds(net)
st = env.state()
check(len(timers) == 1 and timers[0][0] == 0 and timers[0][2] == 0,
      "the network process should have one one-shot realtime timer: %r" % timers)
fires_at = time.time() + timers[0][1]
check(st["next_renewal"] - time.time() > 86400, "renewal not days ahead: %r" % st)
check(abs(fires_at - st["next_renewal"]) < 60,
      "the timer fires at %d, the renewal is planned for %d" % (fires_at, st["next_renewal"]))

# A signal is a wake-up: the counter is not stuck.
agent.signal(signal.SIGUSR1)
wait_for(lambda: (env.metric("mskpki_agent_wakeups_total") or 0) > w2, 30, "a counted wake-up")
wait_for(lambda: (env.state() or {}).get("generation", 0) >= 2, 30, "the forced renewal")
w3 = env.metric("mskpki_agent_wakeups_total")
time.sleep(IDLE)
check(env.metric("mskpki_agent_wakeups_total") == w3, "wake-ups moved while idle after renewal")
agent.stop()
done("idle")
