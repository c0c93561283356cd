#!/usr/bin/env python3
"""A default build carries no test hooks (issue 15): run by scripts/test.sh.

Usage: check-test-hooks.py --test BIN... --release BIN...

--test: the programs of a test build (-DMSKPKI_TESTS=ON, so MK_TESTING), which must carry the
markers below: this proves the markers are the right ones.  --release: the same programs from a
default build (MSKPKI_TESTS defaults to OFF, as for people, distributions and the .deb), in which
none may remain: no MSKPKI_TEST_* environment switch (the sandboxes' off switches, the injected
failures), no *_test_* entry point, no injected-failure message."""
import os
import re
import subprocess
import sys

# Every environment switch of the hooks is named MSKPKI_TEST_*; the strings survive stripping.
STRINGS = (b"MSKPKI_TEST_", b"injected failure")
# The hooks' extern entry points (agent_keys_test_probe, pki_store_test_fail_write, ...).
SYMBOL = re.compile(r"^[a-z]+_[a-z_]*test_[a-z_]+$")


def markers(path):
    found = set()
    r = subprocess.run(["nm", "--defined-only", path], capture_output=True, text=True)
    # A stripped program has no symbol table ("no symbols"): the strings still count.
    if r.returncode == 0:
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TtDdBb" and SYMBOL.match(parts[2]):
                found.add(parts[2])
    with open(path, "rb") as f:
        data = f.read()
    found |= {s.decode() for s in STRINGS if s in data}
    return found


def main(args):
    if "--test" not in args or "--release" not in args:
        sys.exit(__doc__)
    i = args.index("--release")
    test_bins = args[args.index("--test") + 1:i]
    release_bins = args[i + 1:]
    if not test_bins or len(test_bins) != len(release_bins):
        sys.exit("FAIL: give the same programs of both builds: %r" % args)
    for t, r in zip(test_bins, release_bins):
        have = markers(t)
        if not any(m.encode() in STRINGS for m in have) or not (have - {s.decode() for s in STRINGS}):
            sys.exit("FAIL: the test build's %s lacks the hook markers (found %s): the check would "
                     "prove nothing" % (t, sorted(have)))
        left = markers(r)
        if left:
            sys.exit("FAIL: test-only hooks in the default build's %s: %s" % (r, sorted(left)))
        print("PASS: %s: no test hooks (the test build has %d markers)"
              % (os.path.basename(r), len(have)))


main(sys.argv[1:])
