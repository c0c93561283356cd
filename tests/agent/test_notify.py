#!/usr/bin/env python3
"""systemd notification protocol: READY=1 after start-up, STATUS= lines, WATCHDOG=1 pings while
WATCHDOG_USEC is set (and only then: they are the only extra wake-ups), STOPPING=1 on SIGTERM.
NOTIFY_SOCKET is a datagram socket of this test, in the abstract namespace and as a path."""
import os
import socket
import time

from agentlib import Env, NotifyListener, check, done, wait_for


def run(env, address, watchdog):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    name = address if isinstance(address, str) and not address.startswith("\0") else \
        "@" + address[1:]
    extra = {"NOTIFY_SOCKET": name}
    if watchdog:
        extra["WATCHDOG_USEC"] = "400000"
        extra["WATCHDOG_PID"] = ""  # unset-equivalent: the agent is the main process
    env.extra_env = extra
    listener = NotifyListener(sock)
    agent = env.start()
    wait_for(lambda: "READY=1" in listener.get(), 30, "READY=1")
    wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "client"}) == 1, 30, "ready")
    n0 = len(listener.get())
    wait_for(lambda: any(m.startswith("STATUS=") and "certificate(s)" in m
                         for m in listener.get()), 30, "a STATUS line")
    if watchdog:
        # Pings every 0.2 s (half of WATCHDOG_USEC): waited for, not slept for.
        wait_for(lambda: sum(1 for m in listener.get()[n0:] if m == "WATCHDOG=1") >= 2, 30,
                 "two watchdog pings")
        w1 = env.metric("mskpki_agent_wakeups_total")
        wait_for(lambda: env.metric("mskpki_agent_wakeups_total") > w1, 30,
                 "a wake-up counted for a watchdog tick")
    else:
        # An absence: only a stretch of time (several ping periods) can show it.
        time.sleep(1.5)
        msgs = listener.get()
        pings = sum(1 for m in msgs[n0:] if m == "WATCHDOG=1")
        check(pings == 0, "watchdog pings without WATCHDOG_USEC: %r" % msgs)
    agent.stop()
    wait_for(lambda: "STOPPING=1" in listener.get(), 10, "STOPPING=1")
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()


env = Env(validity="1d", hook=False)
run(env, "\0mskpki-agent-test-%d" % os.getpid(), watchdog=True)
env2 = Env(validity="1d", hook=False)
run(env2, os.path.join(env2.tmp, "notify.sock"), watchdog=False)
done("notify")
