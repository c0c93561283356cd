#!/usr/bin/env python3
"""Crash safety: SIGKILL the agent at random points of many rotations (local CA).

Usage: test_crash_loop.py AGENT      (MSKPKI_CRASH_KILLS=N for N kills; default 200)

Each round runs `mskpki-agent --renew client` (a new key, a certificate, a new generation with a
PKCS#12) and kills it with SIGKILL after a random delay drawn over the length of a whole run.
After every kill, before anything repairs the store, the output directory must hold one
complete matching pair through the stable paths (the key's public key is the certificate's; the
PKCS#12 opens with its password and holds that same key and certificate; the full chain starts
with the certificate; checked in-process with libcrypto through python3-cryptography, which is
fast enough for hundreds of rounds, and with the openssl CLI at every uninterrupted run), old or new, never mixed and never without a key; leftovers must
not accumulate (at most one unfinished generation, temp files only from the killed run); no
file, directory or temp file has a mode wider than its first complete write.  Every 25 rounds,
and at the end, an uninterrupted run must succeed and leave exactly current + previous and no
temp file anywhere (recovery cleans what the kills left)."""
import hashlib
import os
import random
import re
import signal
import subprocess
import time

from cryptography import x509
from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat,
                                                          load_pem_private_key, pkcs12)

from rellib import check, check_pair
from agentlib import AGENT, Env, done

KILLS = int(os.environ.get("MSKPKI_CRASH_KILLS", "200"))
seed = int(os.environ.get("MSKPKI_CRASH_SEED", str(int(time.time()))))
rng = random.Random(seed)
print("crash loop: %d kills, seed %d (MSKPKI_CRASH_SEED to replay)" % (KILLS, seed))

env = Env(validity="1h", hook=False)
pw = os.path.join(env.tmp, "p12.pass")
with open(pw, "w") as f:
    f.write("crash-test-password\n")
os.chmod(pw, 0o600)
env.output_extra = 'pkcs12 = "client.p12"; pkcs12_password_file = "%s";' % pw
env.write_config()
out = os.path.join(env.tmp, "out", "client")
run_env = env.env()


def tree_modes():
    """{name: mode} for the store directory, its generations and their files."""
    modes = {}
    for root, dirs, files in os.walk(out):
        for n in dirs + files:
            p = os.path.join(root, n)
            st = os.lstat(p)
            if not os.path.islink(p):
                # Generations differ in number, not in what they hold.
                rel = re.sub(r"\.gen-\d+", ".gen", os.path.relpath(p, out))
                modes.setdefault(rel, set()).add(st.st_mode & 0o7777)
    return modes


def leftovers():
    gens = [n for n in os.listdir(out) if n.startswith(".gen-")]
    tmps = []
    for root, _dirs, files in os.walk(out):
        tmps += [os.path.join(root, n) for n in files if n.endswith(".mskpki-tmp")]
    state_tmps = [n for n in os.listdir(env.state_dir) if n.endswith(".mskpki-tmp")]
    return gens, tmps, state_tmps


def full_run(what):
    """Runs --renew to the end and checks the store; returns how long the agent ran."""
    t0 = time.monotonic()
    r = subprocess.run([AGENT, "--config", env.conf, "--renew", "client"], env=run_env,
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "%s: an uninterrupted --renew failed (%d):\n%s"
          % (what, r.returncode, r.stderr[-3000:]))
    took = time.monotonic() - t0
    gens, tmps, state_tmps = leftovers()
    live = {os.readlink(os.path.join(out, n)) for n in ("current", "previous")
            if os.path.lexists(os.path.join(out, n))}
    check(set(gens) == live and not tmps and not state_tmps,
          "%s: recovery left %r %r %r" % (what, gens, tmps, state_tmps))
    check_pair(out, p12="client.p12", p12_pass=pw)
    return took


full_run("first run")  # also creates the local CA
run_time = full_run("second run")
baseline = {k: max(v) for k, v in tree_modes().items()}


def spki(public_key):
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


p12_ok = set()  # digests of keystores already opened and matched


def read(name):
    with open(os.path.join(out, name), "rb") as f:
        return f.read()


def check_pair_fast(i):
    key, leaf, p12 = read("client.key"), read("client.crt"), read("client.p12")
    cert = x509.load_pem_x509_certificate(leaf)
    check(spki(load_pem_private_key(key, None).public_key()) == spki(cert.public_key()),
          "round %d: the key does not match the certificate" % i)
    digest = hashlib.sha256(key + leaf + p12).digest()
    if digest not in p12_ok:
        k, c, _chain = pkcs12.load_key_and_certificates(p12, b"crash-test-password")
        check(c == cert and spki(k.public_key()) == spki(cert.public_key()),
              "round %d: the PKCS#12 is not the key file's pair" % i)
        p12_ok.add(digest)
    return leaf


def check_after_kill(i):
    current = os.readlink(os.path.join(out, "current"))
    check(re.fullmatch(r"\.gen-\d+", current), "round %d: current -> %r" % (i, current))
    leaf = check_pair_fast(i)
    with open(os.path.join(out, "fullchain.pem"), "rb") as f:
        check(f.read().startswith(leaf), "round %d: fullchain does not start with the leaf" % i)
    gens, tmps, state_tmps = leftovers()
    # current, previous, and at most the one generation the killed run was writing.
    check(len(gens) <= 3, "round %d: generations accumulate: %r" % (i, gens))
    check(len(tmps) <= 1 and len(state_tmps) <= 2,
          "round %d: temp files accumulate: %r %r" % (i, tmps, state_tmps))
    for p in tmps:
        # A temp file is created 0600 and given its final file's mode before any data.
        final = re.sub(r"\.gen-\d+", ".gen", os.path.relpath(p, out))
        final = os.path.join(os.path.dirname(final),
                             os.path.basename(final)[1:-len(".mskpki-tmp")])
        allowed = baseline.get(final, 0o600)
        check(os.lstat(p).st_mode & 0o7777 & ~allowed == 0,
              "round %d: temp file %s mode %o, final %o" % (i, p, os.lstat(p).st_mode, allowed))
    for rel, modes in tree_modes().items():
        if rel.endswith(".mskpki-tmp"):
            continue
        base = baseline.get(rel)
        check(base is not None, "round %d: unexpected entry %s" % (i, rel))
        for mode in modes:
            check(mode & ~base == 0, "round %d: %s mode %o wider than %o" % (i, rel, mode, base))
    return current, len(gens) == 3 or tmps


def session_members(sid):
    """Pids still alive in session sid (zombies are dead: they write nothing)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                # pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses.
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(d))
    return pids


def wait_children_gone(i, sid):
    """The agent's key and network processes die with it (PR_SET_PDEATHSIG): the store is
    checked only once nothing of that run can still write, and a survivor is a failure."""
    deadline = time.monotonic() + 10
    while True:
        left = session_members(sid)
        if not left:
            return
        check(time.monotonic() < deadline,
              "round %d: processes of the killed agent survived it: %r" % (i, left))
        time.sleep(0.005)


switched = partial = 0
last = os.readlink(os.path.join(out, "current"))
for i in range(1, KILLS + 1):
    # Its own session, so that its children can be found after it is gone; SIGKILL goes to the
    # agent alone, as when the kernel's OOM killer or `kill -9 PID` ends it.
    p = subprocess.Popen([AGENT, "--config", env.conf, "--renew", "client"], env=run_env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    time.sleep(rng.uniform(0, run_time * 1.1))
    p.send_signal(signal.SIGKILL)
    p.wait()
    wait_children_gone(i, p.pid)
    current, mid = check_after_kill(i)
    switched += current != last
    partial += bool(mid)
    last = current
    if i % 25 == 0:
        full_run("round %d" % i)
        last = os.readlink(os.path.join(out, "current"))
full_run("the end")
print("kills=%d switched=%d left_partial=%d run_time=%.2fs" % (KILLS, switched, partial, run_time))
check(switched > 0, "no kill landed after a generation switch: the loop proves nothing")
done("crash_loop")
