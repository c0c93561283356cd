#!/usr/bin/env python3
"""Idle and trickling clients cannot block a scrape (issue 16).

Before: 64 idle connections filled libmicrohttpd's connection limit and blocked /metrics and
/healthz, and a byte every 5 s kept a connection alive past the idle timeout for ever.  Now
one client address holds at most metrics.max_connections_per_ip connections, and no connection
lives longer than metrics.connection_timeout from its accept, trickling or not.

With connection_timeout = 3s and max_connections_per_ip = 4, 80 idle and 4 trickling connections
from 127.0.0.1:
  - a scrape from another address (127.0.0.2) succeeds at once (the per-address limit);
  - the trickling connections (a byte every second, under the idle timeout) are closed by the
    server within the deadline, and a scrape from 127.0.0.1 itself succeeds after it;
  - while an attacker keeps reopening connections from 127.0.0.1, scrapes from 127.0.0.2 keep
    succeeding.

Usage: test_metrics_slow_clients.py AGENT"""
import socket
import threading
import time
import urllib.request

from agentlib import Env, check, done, fail, wait_for

TIMEOUT = 3
PER_IP = 4

env = Env(metrics_extra='connection_timeout = "%ds"; max_connections_per_ip = %d;'
          % (TIMEOUT, PER_IP))
agent = env.start()


def scrape_from(source, path="/metrics", timeout=5):
    """GET path over a socket bound to source; (status line, body) or (None, error)."""
    try:
        s = socket.create_connection(("127.0.0.1", env.port), timeout=timeout,
                                     source_address=(source, 0))
    except OSError as e:
        return None, str(e)
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                  % path.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        return None, str(e)
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    return (line if line else None), body.decode(errors="replace")


def ok(r):
    return r[0] is not None and " 200 " in r[0] + " " and "mskpki_build_info" in r[1]



# ---- 4 trickling connections from 127.0.0.1 take its slots ----
trickle_closed = {}
stop_trickle = threading.Event()


def trickle(i, s):
    """One byte of a never-ending request line every second (under the idle timeout)."""
    start = time.monotonic()
    s.settimeout(1.0)
    try:
        s.sendall(b"GET /metrics?")
        while not stop_trickle.is_set():
            time.sleep(1.0)
            s.sendall(b"a")
            try:
                if s.recv(1) == b"":
                    break
            except socket.timeout:
                continue
    except OSError:
        pass
    trickle_closed[i] = time.monotonic() - start


trickles = []
for i in range(PER_IP):
    s = socket.create_connection(("127.0.0.1", env.port), timeout=2)
    t = threading.Thread(target=trickle, args=(i, s), daemon=True)
    t.start()
    trickles.append((t, s))

# ---- then 80 idle ones (past the old overall limit of 64) ----
time.sleep(0.3)
idle = []
for _ in range(80):
    try:
        idle.append(socket.create_connection(("127.0.0.1", env.port), timeout=2))
    except OSError:
        pass
check(len(idle) >= 64, "could not open the idle connections (%d)" % len(idle))

# Another address gets through at once: 127.0.0.1 cannot hold more than PER_IP slots.
t0 = time.monotonic()
r = scrape_from("127.0.0.2")
check(ok(r), "scrape from 127.0.0.2 under 84 slow connections from 127.0.0.1: %r" % (r[0],))
check(time.monotonic() - t0 < 2, "the scrape from 127.0.0.2 waited")
r = scrape_from("127.0.0.2", "/healthz")
check(r[0] is not None and ("200" in r[0] or "503" in r[0]), "/healthz from 127.0.0.2: %r" % (r,))

# The trickling connections are cut at the deadline although they never go idle.
deadline = time.monotonic() + TIMEOUT + 5
while len(trickle_closed) < PER_IP and time.monotonic() < deadline:
    time.sleep(0.2)
check(len(trickle_closed) == PER_IP,
      "trickling connections still open after %d s: %d of %d closed"
      % (TIMEOUT + 5, len(trickle_closed), PER_IP))
# They were served (not refused) and lived about the deadline, not less.
check(TIMEOUT - 1 <= min(trickle_closed.values()) and max(trickle_closed.values()) < TIMEOUT + 3,
      "trickling connections lived %r s, deadline %d s" % (trickle_closed, TIMEOUT))
stop_trickle.set()
# With the trickling connections cut (the idle ones past the limit were refused), 127.0.0.1
# itself scrapes again, although the idle sockets are still open on this side.
r = wait_for(lambda: (lambda x: x if ok(x) else None)(scrape_from("127.0.0.1")), 5,
             "a scrape from 127.0.0.1 after the deadline")
for s in idle:
    s.close()
for _, s in trickles:
    s.close()

# ---- an attacker who keeps reopening from 127.0.0.1 does not starve another address ----
stop_flood = threading.Event()


def flood():
    held = []
    while not stop_flood.is_set():
        try:
            held.append(socket.create_connection(("127.0.0.1", env.port), timeout=1))
        except OSError:
            time.sleep(0.01)
        if len(held) > 200:
            held.pop(0).close()
    for s in held:
        s.close()


flooder = threading.Thread(target=flood, daemon=True)
flooder.start()
time.sleep(0.5)
for i in range(5):
    r = scrape_from("127.0.0.2")
    if not ok(r):
        stop_flood.set()
        fail("scrape %d from 127.0.0.2 during a connection flood from 127.0.0.1: %r" % (i, r))
    time.sleep(0.3)
stop_flood.set()
flooder.join()
agent.stop()
done("metrics_slow_clients")
