#!/usr/bin/env python3
"""The secrets scan (issue 8): no key material, passphrase or AWS secret key in anything the suite
produced for people or machines to read.

Runs after every other test (ctest fixture mskpki_suite, FIXTURES_CLEANUP).  It reads:
  * $MSKPKI_BUILD_DIR/artifacts/: what the integration tests keep there (agentlib.py copies each
    agent test's temp dir: agent logs, --once output, state files, hook logs, metric scrapes, keys;
    the audit suites their reports and outputs; the probe tests their outputs; test_bad_input
    everything it ran);
  * $MSKPKI_BUILD_DIR/Testing/Temporary/LastTest.log*: every test's stdout and stderr.
The secrets are the known test values (passphrases, fake AWS secret keys), the first line of every
password/passphrase file kept, and the base64 body of every private key file kept.  Readable
outputs (logs, state, reports, scrapes, program output) must contain none of them and no PEM
private key header.  Key files must be no wider than their config's key_mode (default 0600), and
never readable by others.

Besides the KNOWN list, the secrets hard-coded in the test and bench sources are harvested
(SOURCE_PATTERNS: `#define SECRET "..."`, `AWS_SECRET_ACCESS_KEY=...`, `"SecretAccessKey": "..."`
and the like), so a new test's fake secret is scanned for without anyone editing this file.

Skipping: after `ctest -R something` only part of the suite ran and the scan may have nothing
to read, so it answers "skipped" (77).  After the whole suite (every test ctest -N lists ran in
this ctest invocation, read from Testing/Temporary/LastTest.log.tmp) a scan with nothing to
read, or without the artifacts of each kind of test that keeps them (PRODUCERS), fails: the
whole-suite scan in CI must never pass by skipping.
"""
import glob
import os
import re
import stat
import sys

BUILD = os.environ["MSKPKI_BUILD_DIR"]
SRC = os.environ.get("MSKPKI_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ART = os.path.join(BUILD, "artifacts")
TMPDIR = os.path.join(BUILD, "Testing", "Temporary")
SELF = "test_secrets"
# Subdirectories of artifacts/ that a whole-suite run must have filled: agentlib.py (agent and
# reliability tests), test_audit.py, tests/probe/lib.sh and test_bad_input.py keep them.  A
# missing one means that kind of output escaped the scan.
PRODUCERS = ("agent", "audit", "probe", "bad_input")

# Secrets hard-coded in the tests (grep AWS_SECRET_ACCESS_KEY / passphrase / password in tests/).
# "testing" (moto's fake secret) is too common a word to scan for.
KNOWN = [
    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz",
    "c2VjcmV0/+key",
    "first-password",
    "second-password",
    "badinput/fake+secret/KEY0123456789abcdefXYZ",
]
# Where the test and bench sources hard-code fake secrets (see harvested_secrets()).
SOURCE_PATTERNS = [
    re.compile(r'#define\s+\w*(?:SECRET|TOKEN|PASSWORD|PASSPHRASE)\w*\s+"([^"\\]{8,})"'),
    re.compile(r'^\s*[A-Z_]*(?:SECRET|PASSWORD|PASSPHRASE|TOKEN)[A-Z_]*\s*=\s*["\']'
               r'([^"\'\s]{8,})["\']', re.M),
    re.compile(r'(?i)aws_secret_access_key["\']?\s*[:=,]\s*\\?["\']([A-Za-z0-9/+=_.-]{8,})'
               r'\\?["\']'),
    re.compile(r'(?i)aws_secret_access_key\s*=\s*([A-Za-z0-9/+=_.-]{8,})(?:\s|\\n|$)', re.M),
    re.compile(r'(?:SecretAccessKey|SessionToken|Token)\\?"\s*:\s*\\?"([A-Za-z0-9/+=_.-]{8,})'
               r'\\?"'),
]
# A variable or setting name caught by the patterns above (AWS_SESSION_TOKEN), not a value.
IDENTIFIER = re.compile(r"[A-Za-z]+(_[A-Za-z]+)+")
PRIVATE_HEADER = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
KEY_NAME = re.compile(r"(\.key|\.p12|\.pfx|\.jks)$")
SECRET_NAME = re.compile(r"(\.pass|password|passphrase)[^/]*$|^pass$")
# Readable outputs: logs, program output, state and pending records, reports, scrapes.
OUTPUT_NAME = re.compile(r"(\.log|\.txt|\.json|\.jsonl|\.state|\.xml|\.sarif|\.out|\.err)$|"
                         r"^(out|err)\.\d+$|^LastTest\.log")
KEY_MODE = re.compile(r'key_mode\s*=\s*"?(0?[0-7]{3})"?')
MAX_READ = 64 * 1024 * 1024

problems = []


def walk(root):
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                yield p


def read(path):
    with open(path, "rb") as f:
        return f.read(MAX_READ)


def key_bodies(data):
    """The base64 lines of every PEM private key block in data (the secret part)."""
    out = []
    for m in re.finditer(rb"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----(.*?)-----END \1-----",
                         data, re.S):
        for line in m.group(2).splitlines():
            line = line.strip()
            # Proc-Type/DEK-Info headers of legacy encrypted keys are not secret.
            if len(line) >= 40 and b":" not in line:
                out.append(line)
    return out


def configured_key_mode(path):
    """key_mode of the mskpki.conf next to (or above) a key file, default 0600; None when no
    config is there (a key the test made itself, not one mskpki wrote)."""
    d = os.path.dirname(path)
    for _ in range(4):
        for name in ("mskpki.conf", "agent.conf"):
            conf = os.path.join(d, name)
            if os.path.exists(conf):
                m = KEY_MODE.search(read(conf).decode("utf-8", "replace"))
                return int(m.group(1), 8) if m else 0o600
        d = os.path.dirname(d)
    return None


def harvested_secrets():
    """The fake secrets hard-coded in tests/ and bench/ sources (test data dirs left out)."""
    found = set()
    for top in ("tests", "bench"):
        for d, dirs, files in os.walk(os.path.join(SRC, top)):
            dirs[:] = [x for x in dirs if x not in ("data", "seeds")]
            for f in files:
                if not f.endswith((".c", ".py", ".sh")):
                    continue
                with open(os.path.join(d, f), encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
                for pat in SOURCE_PATTERNS:
                    for m in pat.finditer(text):
                        if not IDENTIFIER.fullmatch(m.group(1)):
                            found.add(m.group(1))
    return found


def whole_suite_ran():
    """True when this ctest invocation ran every test of the build (the log ctest is writing
    names each as "N/M Testing: NAME"); False after ctest -R/-L/-E or when run by hand."""
    # LastTest.log.tmp, or LastTest_<tag>.log.tmp under ctest -T/-D; renamed when ctest ends.
    logs = glob.glob(os.path.join(TMPDIR, "LastTest*.log.tmp"))
    if not logs:
        return False
    with open(max(logs, key=os.path.getmtime), encoding="utf-8", errors="replace") as f:
        ran = set(re.findall(r"^\d+/\d+ Testing: (\S+)$", f.read(), re.M))
    # The suite as ctest knows it, from the CTestTestfile.cmake files it reads.  Not `ctest -N`:
    # any ctest run rewrites Testing/Temporary/LastTest.log.tmp, the very log being scanned.
    listed = set()
    for d, dirs, files in os.walk(BUILD):
        dirs[:] = [x for x in dirs if x not in ("CMakeFiles", "Testing", "artifacts", "memcheck")]
        if "CTestTestfile.cmake" in files:
            with open(os.path.join(d, "CTestTestfile.cmake"), encoding="utf-8",
                      errors="replace") as f:
                listed |= set(re.findall(r"^\s*add_test\(\[=\[(.*?)\]=\]", f.read(), re.M))
    if not listed:
        # Without the list the run cannot be called partial: the strict answer.
        print("test_secrets: no tests found in %s/**/CTestTestfile.cmake; treating the run as "
              "whole" % BUILD)
        return True
    missing = listed - ran - {SELF}
    if missing:
        print("test_secrets: partial run, %d of %d tests not run (e.g. %s)"
              % (len(missing), len(listed), ", ".join(sorted(missing)[:3])))
    return not missing


def skip_or_fail(whole, why):
    """A scan with nothing to read: skipped after a partial run, a failure after the whole."""
    if whole:
        print("FAIL test_secrets: the whole suite ran but %s: the scan would prove nothing" % why)
        return 1
    print("test_secrets: %s (only part of the suite ran); skipped" % why)
    return 77


def main():
    whole = whole_suite_ran()
    if not os.path.isdir(ART):
        return skip_or_fail(whole, "no artifacts at %s" % ART)
    if whole:
        empty = [p for p in PRODUCERS if not os.path.isdir(os.path.join(ART, p)) or
                 not any(True for _ in walk(os.path.join(ART, p)))]
        if empty:
            return skip_or_fail(whole, "no artifacts under %s" % ", ".join(
                os.path.join(ART, p) for p in empty))
    secrets = [s.encode() for s in KNOWN]
    harvested = harvested_secrets()
    secrets += [s.encode() for s in harvested]
    outputs = []
    n_keys = 0
    for p in walk(ART):
        name = os.path.basename(p)
        data = read(p)
        if KEY_NAME.search(name) or (PRIVATE_HEADER.search(data) and not OUTPUT_NAME.search(name)):
            n_keys += 1
            secrets += key_bodies(data)
            mode = stat.S_IMODE(os.lstat(p).st_mode)
            if KEY_NAME.search(name) and PRIVATE_HEADER.search(data):
                allowed = configured_key_mode(p)
                if allowed is not None and (mode & ~allowed or mode & stat.S_IRWXO):
                    problems.append("%s: mode %04o is wider than %04o" % (p, mode, allowed))
        elif SECRET_NAME.search(name) and len(data) <= 4096:
            line = data.split(b"\n", 1)[0].rstrip(b"\r")
            if len(line) >= 6:
                secrets.append(line)
        elif OUTPUT_NAME.search(name):
            outputs.append(p)
    if os.path.isdir(TMPDIR):
        # LastTest.log.tmp is the log ctest is writing now: every test run before this one,
        # with its whole output (ctest does not truncate it).
        outputs += [os.path.join(TMPDIR, f) for f in os.listdir(TMPDIR)
                    if f.startswith("LastTest")]
    secrets = sorted(set(secrets))
    for p in outputs:
        data = read(p)
        if PRIVATE_HEADER.search(data):
            problems.append("%s: contains a PEM private key header" % p)
        for s in secrets:
            if s in data:
                shown = s[:6].decode("ascii", "replace")
                problems.append("%s: contains a secret (%s..., %d bytes)" % (p, shown, len(s)))
    for line in problems:
        print("FAIL " + line)
    print("test_secrets: %s run: %d outputs scanned for %d secrets (%d harvested from the "
          "sources, %d from %d key files); %d problems" %
          ("whole-suite" if whole else "partial", len(outputs), len(secrets), len(harvested),
           len(secrets) - len(harvested), n_keys, len(problems)))
    # A scan that found nothing to read is no evidence.  After the whole suite there must be
    # key files too, or the agent tests' keys (whose bodies are secrets) never reached it.
    if not outputs or (whole and not n_keys):
        return skip_or_fail(whole, "%d outputs and %d key files to scan" % (len(outputs), n_keys))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
