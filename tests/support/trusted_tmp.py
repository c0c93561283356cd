#!/usr/bin/env python3
"""Prints the directory for the tests' temporary files: BUILD_DIR/testtmp when every directory
above it passes the agent's trusted-path rule (owned by root or this user, writable by no one
else: conf/paths.h), else a directory of this build outside it (a checkout under /tmp, whose
sticky shared parent the agent rightly refuses): /var/lib/mskpki-tests/<hash> as root,
~/.cache/mskpki-tests/<hash> otherwise.  The directory is made 0755.

Usage: trusted_tmp.py BUILD_DIR
"""
import hashlib
import os
import sys


def trusted(path):
    p = path
    while True:
        st = os.stat(p)
        if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o022:
            return False
        if p == "/":
            return True
        p = os.path.dirname(p)


def main():
    build = os.path.realpath(sys.argv[1])
    if trusted(build):
        d = os.path.join(build, "testtmp")
    else:
        base = "/var/lib" if os.geteuid() == 0 else os.path.expanduser("~/.cache")
        tag = hashlib.sha256(build.encode()).hexdigest()[:16]
        d = os.path.join(base, "mskpki-tests", tag)
    os.makedirs(d, mode=0o755, exist_ok=True)
    if not d.startswith(build + os.sep):
        os.chmod(os.path.dirname(d), 0o755)  # makedirs applies the umask to the parents
    os.chmod(d, 0o755)
    print(d)


if __name__ == "__main__":
    main()
