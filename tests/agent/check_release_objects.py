#!/usr/bin/env python3
"""The sandbox's debug hook is built only in test builds (issue 9).

Usage: check_release_objects.py --test OBJ... --release OBJ...

--test: the agent's role objects of this (MK_TESTING) build, which must carry the hook: this
proves the markers below are the right ones.  --release: the same sources compiled without
MK_TESTING, as a release build (-DMSKPKI_TESTS=OFF, the Debian package) compiles them: none of
the markers may remain: no probe entry point, no MSKPKI_TEST_PROBE or MSKPKI_TEST_NO_LANDLOCK
variable, no probe log line, no hostile network process (agent/hostile.c)."""
import os
import subprocess
import sys

# Symbols (nm) and strings (raw bytes) that only the test hooks bring in.  The hooks' static
# functions are inlined at -O2, so the extern entry point and the strings are the markers.
SYMBOLS = ("agent_keys_test_probe", "agent_hostile_run", "agent_hostile_fs_run")
STRINGS = (b"MSKPKI_TEST_PROBE", b"test.probe", b"MSKPKI_TEST_NO_LANDLOCK",
           b"MSKPKI_TEST_HOSTILE", b"Attacker Root CA")


def markers(paths):
    found = set()
    for p in paths:
        r = subprocess.run(["nm", "--defined-only", p], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("FAIL: nm %s: %s" % (p, r.stderr.strip()))
        names = {line.split()[-1] for line in r.stdout.splitlines() if line.strip()}
        found |= {(os.path.basename(p), s) for s in SYMBOLS if s in names}
        with open(p, "rb") as f:
            data = f.read()
        found |= {(os.path.basename(p), s.decode()) for s in STRINGS if s in data}
    return found


args = sys.argv[1:]
if "--test" not in args or "--release" not in args:
    sys.exit(__doc__)
i = args.index("--release")
test_objs = [a for a in args[1:i] if a.endswith(".o")]
release_objs = [a for a in args[i + 1:] if a.endswith(".o")]
if not test_objs or not release_objs:
    sys.exit("FAIL: no objects given: %r" % args)

have = {m for _, m in markers(test_objs)}
missing = set(SYMBOLS) | {s.decode() for s in STRINGS}
missing -= have
if missing:
    sys.exit("FAIL: the test build lacks the hook markers %s: the check would prove nothing"
             % sorted(missing))
left = markers(release_objs)
if left:
    sys.exit("FAIL: test-only hooks in release objects: %s" % sorted(left))
print("PASS: release_objects (%d test, %d release objects)" % (len(test_objs), len(release_objs)))
