#!/usr/bin/env python3
"""Runs every unit test (ctest label "unit") of BUILD_DIR under valgrind memcheck, in parallel.

A test fails on any memcheck error or definite leak (--errors-for-leak-kinds=definite
--error-exitcode=99), or when it fails by itself.  Only OpenSSL/libsodium false positives are
suppressed (tests/valgrind/mskpki.supp documents each).  Usage: memcheck.py BUILD_DIR [JOBS]

Every unit test runs; SLOW may name one left out, with the reason in the test, not in the code
it tests (it then runs under ASan+LSan in the sanitizer build only).  None is left out now.
test_key, test_store and test_cert (many RSA keys, up to 4096 bits) are slow but clean: about
60, 95 and 55 s under valgrind on this 2-core machine, well inside the 600 s per test.
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALGRIND = ["valgrind", "--tool=memcheck", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
            "--track-origins=no", "--num-callers=30", "--child-silent-after-fork=yes",
            "--suppressions=" + os.path.join(SRC, "tests", "valgrind", "mskpki.supp")]
SLOW = set()


def unit_tests(build):
    out = subprocess.run(["ctest", "--test-dir", build, "-N", "-L", "unit",
                          "--show-only=json-v1"], check=True, capture_output=True, text=True)
    for t in json.loads(out.stdout)["tests"]:
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        # -L also lists the fixture setup/cleanup tests the unit tests require (the artifacts
        # reset and the secrets scan); they are not unit tests and the scan skips when run alone.
        if t["name"] in SLOW or "unit" not in props.get("LABELS", []):
            continue
        env = dict(v.split("=", 1) for v in props.get("ENVIRONMENT", []))
        yield t["name"], t["command"], env


def run(build, name, command, env):
    start = time.monotonic()
    full = dict(os.environ, **env)
    log = os.path.join(build, "memcheck", name + ".log")
    p = subprocess.run(VALGRIND + ["--log-file=" + log] + command, env=full, cwd=build,
                       capture_output=True, text=True, timeout=600)
    return name, p.returncode, time.monotonic() - start, log, p.stdout[-2000:] + p.stderr[-2000:]


def main():
    build = os.path.abspath(sys.argv[1])
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count() or 2
    os.makedirs(os.path.join(build, "memcheck"), exist_ok=True)
    tests = list(unit_tests(build))
    failed = []
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for name, rc, secs, log, out in pool.map(lambda t: run(build, *t), tests):
            verdict = "ok" if rc == 0 else ("MEMCHECK ERRORS" if rc == 99 else "FAILED rc=%d" % rc)
            print("memcheck: %-28s %6.1f s  %s" % (name, secs, verdict), flush=True)
            if rc != 0:
                failed.append(name)
                with open(log, encoding="utf-8", errors="replace") as f:
                    print(f.read()[-6000:])
                print(out)
    print("memcheck: %d unit tests, %d failed %s" % (len(tests), len(failed), " ".join(failed)))
    return 1 if failed or not tests else 0


if __name__ == "__main__":
    sys.exit(main())
