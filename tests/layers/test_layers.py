#!/usr/bin/env python3
"""The folder map of docs/design.md, enforced: every #include of a product source names a folder
that its own folder may use, and libmskpki (pki/) reaches neither libcurl nor libxml2.

Usage: test_layers.py SOURCE_DIR BINARY...  (the binaries are pki-only unit tests)
"""
import os
import re
import subprocess
import sys

# Who may include whom: the arrows run down only (docs/design.md, "The map").
ALLOWED = {
    "pki": {"pki"},
    "aws": {"pki", "aws"},
    "ca": {"pki", "aws", "ca"},
    "conf": {"pki", "aws", "ca", "conf"},
    "issue": {"pki", "aws", "ca", "conf", "issue"},
    "agent": {"pki", "aws", "ca", "conf", "issue", "agent"},
    "ctl": {"pki", "aws", "ca", "conf", "issue", "ctl"},
    # A subcommand uses ctl/'s shared helpers and its own folder, never another subcommand's.
    "ctl/audit": {"pki", "aws", "ca", "conf", "ctl", "ctl/audit"},
    "ctl/probe": {"pki", "aws", "ca", "conf", "ctl", "ctl/probe"},
    "ctl/cert": {"pki", "aws", "ca", "conf", "issue", "ctl", "ctl/cert"},
}
SUBCOMMANDS = ("audit", "probe", "cert")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder_of(header):
    parts = header.split("/")
    if parts[0] == "ctl" and len(parts) > 2 and parts[1] in SUBCOMMANDS:
        return "ctl/" + parts[1]
    return parts[0]


def include_violations(root):
    bad = []
    for folder, allowed in ALLOWED.items():
        path = os.path.join(root, folder)
        for name in sorted(os.listdir(path)):
            if not name.endswith((".c", ".h")):
                continue
            with open(os.path.join(path, name), encoding="utf-8") as f:
                text = f.read()
            for inc in INCLUDE.findall(text):
                if "/" not in inc:
                    bad.append(f"{folder}/{name}: #include \"{inc}\" is not a folder/file path")
                elif folder_of(inc) not in allowed:
                    bad.append(f"{folder}/{name}: #include \"{inc}\": {folder}/ may not use "
                               f"{folder_of(inc)}/")
    return bad


def link_violations(binaries):
    bad = []
    for b in binaries:
        out = subprocess.run(["ldd", b], capture_output=True, text=True, check=True).stdout
        for lib in ("libcurl", "libxml2"):
            if lib in out:
                bad.append(f"{os.path.basename(b)} (links only libmskpki) pulls in {lib}")
    return bad


def main():
    root, binaries = sys.argv[1], sys.argv[2:]
    if not binaries:
        print("usage: test_layers.py SOURCE_DIR BINARY...", file=sys.stderr)
        return 2
    bad = include_violations(root) + link_violations(binaries)
    for line in bad:
        print("FAIL", line)
    print(f"{0 if bad else 2} passed, {1 if bad else 0} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
