#!/usr/bin/env python3
"""userns_run.py CMD...: runs CMD as root of a new user namespace in which uids and gids 0-65535
are themselves (so agent.user, mskpki, stays mapped and the network process can become it) and
max_user_namespaces is 0 (no nested user namespace: the agent's fallback must do without).
`unshare -U -r` maps uid 0 only, and `--map-users` needs newuidmap.  Forwards TERM, INT, HUP,
USR1 and USR2 to CMD and exits with its status.  Run it as real root."""
import ctypes
import os
import signal
import sys

CLONE_NEWUSER = 0x10000000
libc = ctypes.CDLL(None, use_errno=True)
go_r, go_w = os.pipe()
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(go_w)
    os.close(ready_r)
    if libc.unshare(CLONE_NEWUSER) != 0:
        os.write(2, b"userns_run: unshare(CLONE_NEWUSER) failed\n")
        os._exit(126)
    os.write(ready_w, b"u")
    if os.read(go_r, 1) != b"m":
        os._exit(126)
    with open("/proc/sys/user/max_user_namespaces", "w") as f:
        f.write("0")
    os.execvp(sys.argv[1], sys.argv[1:])
os.close(go_r)
os.close(ready_w)
if os.read(ready_r, 1) != b"u":
    sys.exit(126)
for m in ("uid_map", "gid_map"):
    with open("/proc/%d/%s" % (pid, m), "w") as f:
        f.write("0 0 65536\n")
os.write(go_w, b"m")
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(s, lambda sig, _f: os.kill(pid, sig))
_, st = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(st))
