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
"""
import os
import re
import stat
import sys

BUILD = os.environ["MSKPKI_BUILD_DIR"]
ART = os.path.join(BUILD, "artifacts")

# Secrets hard-coded in the tests (grep AWS_SECRET_ACCESS_KEY / passphrase / password in tests/).
# "testing" (moto's fake secret) is too common a word to scan for.
KNOWN = [
    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz",
    "c2VjcmV0/+key",
    "first-password",
    "second-password",
    "badinput/fake+secret/KEY0123456789abcdefXYZ",
]
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


def main():
    if not os.path.isdir(ART):
        # Only some tests ran (ctest -R ...) and none kept artifacts: skipped, not passed.
        print("test_secrets: no artifacts at %s (run the whole suite); skipped" % ART)
        return 77
    secrets = [s.encode() for s in KNOWN]
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
    tmpdir = os.path.join(BUILD, "Testing", "Temporary")
    if os.path.isdir(tmpdir):
        outputs += [os.path.join(tmpdir, f) for f in os.listdir(tmpdir)
                    if f.startswith("LastTest.log")]
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
    print("test_secrets: %d outputs scanned for %d secrets from %d key files; %d problems" %
          (len(outputs), len(secrets), n_keys, len(problems)))
    # A scan that found nothing to compare is no evidence: skipped, not passed.
    if not outputs or not secrets:
        print("test_secrets: nothing to scan; skipped")
        return 77
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
