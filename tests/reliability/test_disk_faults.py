#!/usr/bin/env python3
"""Disk and permission faults against the agent (local CA, --renew runs).

Usage: test_disk_faults.py AGENT

Each case starts from a good generation and checks that a failed rotation leaves every output
byte-identical, exits non-zero with one error naming the directory, and never writes outside it:
  enospc       the output directory is a 64 KiB tmpfs filled up: the write fails with ENOSPC,
               no partial generation or temp file is left, and freeing space lets it recover;
               the tmpfs needs root (mount -t tmpfs); without it the LD_PRELOAD shim
               tests/reliability/enospc_shim.c fails write() with ENOSPC for the store's temp
               files instead
  readonly     the output directory is read-only (a tmpfs remounted ro as root, else mode 0555)
  foreign      the directory is owned by another user (root only: chown to 65534)
  group_w      the directory is group-writable (0770); world_w: world-writable (0757)
               (these three are refused at start, exit 2, by the trusted-path walk)
  symlinks     a symlink planted at the stable key path, at a future generation's name and at
               the state file's temp name: never followed, the targets outside stay untouched
Every case is always run; one that needs root and cannot get it fails with a message rather
than passing silently, unless MSKPKI_RELIABILITY_NONROOT=1 says to skip those."""
import os
import re
import shutil
import subprocess

from rellib import check, check_pair, snapshot
from agentlib import AGENT, Env, done, fail

ROOT = os.geteuid() == 0
SKIP_ROOT = os.environ.get("MSKPKI_RELIABILITY_NONROOT") == "1"
BUILD = os.environ.get("MSKPKI_BUILD_DIR", "")


def new_env():
    env = Env(validity="1h", hook=False)
    env.out_dir = os.path.join(env.tmp, "out", "client")
    return env


def renew(env, extra_env=None):
    r = subprocess.run([AGENT, "--config", env.conf, "--renew", "client"],
                       env=env.env(extra_env), capture_output=True, text=True, timeout=120)
    return r.returncode, r.stderr


def good(env, what):
    rc, err = renew(env)
    check(rc == 0, "%s: --renew failed (%d):\n%s" % (what, rc, err[-3000:]))
    check_pair(env.out_dir)


def refused(env, what, before, pattern, extra_env=None, ready=True, pair=True):
    """A --renew that must fail, name the cause, and leave the outputs as they were.  ready:
    whether the agent still vouches for the pair (not when it distrusts the directory)."""
    rc, err = renew(env, extra_env)
    check(rc == 1, "%s: --renew exited %d, expected 1:\n%s" % (what, rc, err[-3000:]))
    check(re.search(pattern, err), "%s: no error matching %r:\n%s" % (what, pattern, err[-3000:]))
    check(snapshot(env.out_dir) == before, "%s: the outputs changed" % what)
    if pair:
        check_pair(env.out_dir)
    st = env.state()
    check(st["last_result"] == "failure" and st["ready"] is ready,
          "%s: state %r" % (what, st))
    return err


def leftovers(d):
    found = []
    for root, _dirs, files in os.walk(d):
        found += [n for n in files if n.endswith(".mskpki-tmp")]
    live = {os.readlink(os.path.join(d, n)) for n in ("current", "previous")
            if os.path.lexists(os.path.join(d, n))}
    found += [n for n in os.listdir(d) if n.startswith(".gen-") and n not in live]
    return found


def mount_tmpfs(path, size="64k"):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0750" % size, "tmpfs", path],
                       capture_output=True, text=True)
    return r.returncode == 0


def umount(path):
    subprocess.run(["umount", "-l", path], capture_output=True)


def need_root(what):
    if ROOT:
        return True
    if SKIP_ROOT:
        print("SKIP: %s needs root (MSKPKI_RELIABILITY_NONROOT=1)" % what)
        return False
    fail("%s needs root (set MSKPKI_RELIABILITY_NONROOT=1 to skip it)" % what)


# ---- enospc --------------------------------------------------------------------------------
def enospc_tmpfs():
    env = new_env()
    os.mkdir(env.out_dir, 0o750)
    check(mount_tmpfs(env.out_dir), "mount -t tmpfs failed as root")
    try:
        good(env, "enospc: first")
        good(env, "enospc: second")
        filler = os.path.join(env.out_dir, "filler")
        with open(filler, "wb", buffering=0) as f:  # fill to the last byte
            try:
                while True:
                    f.write(b"\0" * 1024)
                    f.flush()
            except OSError:
                pass
        before = snapshot(env.out_dir)
        refused(env, "enospc", before, r"No space left on device|ENOSPC|errno=28")
        check(not leftovers(env.out_dir), "enospc: leftovers %r" % leftovers(env.out_dir))
        os.unlink(filler)
        good(env, "enospc: after freeing space")
        check(not leftovers(env.out_dir), "enospc: leftovers after recovery")
    finally:
        umount(env.out_dir)


def enospc_shim():
    shim = os.environ.get("MSKPKI_ENOSPC_SHIM_PATH") or os.path.join(BUILD, "tests",
                                                                     "libmskpki_enospc.so")
    check(os.path.exists(shim), "no ENOSPC shim at %s" % shim)
    env = new_env()
    good(env, "enospc shim: first")
    before = snapshot(env.out_dir)
    refused(env, "enospc shim", before, r"No space left on device|ENOSPC|errno=28",
            {"LD_PRELOAD": shim, "MSKPKI_ENOSPC_MATCH": "/out/client/.gen-",
             "MSKPKI_ENOSPC_AFTER": "100",
             # In the ASan build the shim comes before the ASan runtime; that is fine here.
             "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"})
    check(not leftovers(env.out_dir), "enospc shim: leftovers %r" % leftovers(env.out_dir))
    good(env, "enospc shim: recovery")


# ---- read-only -----------------------------------------------------------------------------
def readonly():
    env = new_env()
    if ROOT:
        # Root ignores mode bits: only a read-only mount stops it.
        os.mkdir(env.out_dir, 0o750)
        check(mount_tmpfs(env.out_dir, "1m"), "mount -t tmpfs failed as root")
    try:
        good(env, "readonly: first")
        before = snapshot(env.out_dir)
        if ROOT:
            r = subprocess.run(["mount", "-o", "remount,ro", env.out_dir], capture_output=True,
                               text=True)
            check(r.returncode == 0, "remount ro: %s" % r.stderr)
        else:
            os.chmod(env.out_dir, 0o550)
        refused(env, "readonly", before,
                re.escape(env.out_dir) + r".*(Read-only file system|Permission denied)")
    finally:
        if ROOT:
            umount(env.out_dir)
        else:
            os.chmod(env.out_dir, 0o750)


def refused_at_start(env, what, before, pattern):
    """Ownership and mode faults are refused before anything runs (conf/paths.c, the StrictModes
    walk up to /): exit 2, one line naming the directory, the outputs and the state untouched."""
    st0 = env.state()
    rc, err = renew(env)
    check(rc == 2, "%s: --renew exited %d, expected 2:\n%s" % (what, rc, err[-3000:]))
    check(len(err.strip().splitlines()) == 1, "%s: not one line:\n%s" % (what, err))
    check(re.search(pattern, err), "%s: no error matching %r:\n%s" % (what, pattern, err[-3000:]))
    check(snapshot(env.out_dir) == before, "%s: the outputs changed" % what)
    check_pair(env.out_dir)
    check(env.state() == st0, "%s: the state changed" % what)


# ---- ownership and mode --------------------------------------------------------------------
def foreign():
    if not need_root("foreign owner"):
        return
    env = new_env()
    good(env, "foreign: first")
    os.chown(env.out_dir, 65534, 65534)
    before = snapshot(env.out_dir)
    refused_at_start(env, "foreign", before,
                     re.escape(env.out_dir) + r" is owned by uid 65534 \(only root or ")
    os.chown(env.out_dir, 0, 0)
    good(env, "foreign: back to us")


def writable(mode, what):
    env = new_env()
    good(env, what + ": first")
    os.chmod(env.out_dir, mode)
    before = snapshot(env.out_dir)
    refused_at_start(env, what, before, re.escape(env.out_dir) + r" is writable by .*\(mode %04o\)"
                     % mode)
    # The agent never "fixes" the mode itself: the operator decides.
    check(os.stat(env.out_dir).st_mode & 0o777 == mode, "%s: mode was changed" % what)
    os.chmod(env.out_dir, 0o750)
    good(env, what + ": fixed")


# ---- planted symlinks ----------------------------------------------------------------------
def symlinks():
    env = new_env()
    outside = os.path.join(env.tmp, "outside")
    os.mkdir(outside, 0o755)
    victim = os.path.join(outside, "victim")
    with open(victim, "w") as f:
        f.write("not yours\n")
    os.chmod(victim, 0o644)
    vdir = os.path.join(outside, "dir")
    os.mkdir(vdir, 0o755)

    def untouched(what):
        check(open(victim).read() == "not yours\n" and os.stat(victim).st_mode & 0o777 == 0o644,
              "%s: the symlink target outside was written" % what)
        check(os.listdir(vdir) == [], "%s: files appeared in %s" % (what, vdir))

    # (a) before the first write: client.key is a symlink to a file outside.
    os.mkdir(env.out_dir, 0o750)
    os.symlink(victim, os.path.join(env.out_dir, "client.key"))
    rc, err = renew(env)
    check(rc == 1 and "client.key" in err, "planted key link accepted (%d):\n%s" % (rc, err))
    untouched("key link on a new store")
    os.unlink(os.path.join(env.out_dir, "client.key"))
    shutil.rmtree(env.out_dir)
    good(env, "symlinks: first")

    # (b) the stable key link replaced by one pointing outside: refused, target untouched.
    before_key = open(os.path.join(env.out_dir, "client.key"), "rb").read()
    os.unlink(os.path.join(env.out_dir, "client.key"))
    os.symlink(victim, os.path.join(env.out_dir, "client.key"))
    before = snapshot(env.out_dir)
    refused(env, "stable key link replaced", before, r"client\.key", pair=False)
    untouched("stable key link replaced")
    os.unlink(os.path.join(env.out_dir, "client.key"))
    os.symlink("current/client.key", os.path.join(env.out_dir, "client.key"))
    check(open(os.path.join(env.out_dir, "client.key"), "rb").read() == before_key,
          "the key behind the restored link changed")

    # (c) the next generations' names and the state file's temp name planted as symlinks to
    # a directory and a file outside: the rotation succeeds without following them.
    cur = int(os.readlink(os.path.join(env.out_dir, "current")).split("-")[1])
    for n in range(cur + 1, cur + 3):
        os.symlink(vdir, os.path.join(env.out_dir, ".gen-%d" % n))
    os.symlink(victim, os.path.join(env.state_dir, ".client.json.mskpki-tmp"))
    good(env, "planted generation and temp links")
    untouched("planted generation and temp links")
    check(os.path.islink(env.out_dir + "/client.key") and
          os.readlink(env.out_dir + "/client.key") == "current/client.key",
          "the stable key link is not ours")
    target = os.readlink(os.path.join(env.out_dir, "current"))
    check(not os.path.islink(os.path.join(env.out_dir, target)),
          "current points at a planted symlink")
    check(not os.path.islink(os.path.join(env.state_dir, "client.json")) and
          env.state()["last_result"] == "success", "the state file went through the link")


def tmpfs_works():
    if not ROOT:
        return False
    probe = os.path.join(new_env().tmp, "probe")
    os.mkdir(probe)
    ok = mount_tmpfs(probe)
    if ok:
        umount(probe)
    return ok


if os.environ.get("MSKPKI_ENOSPC_SHIM") == "1":
    # The shim on its own (ctest runs it as a second entry so both kinds of full disk run).
    enospc_shim()
    done("disk_faults_shim")
if tmpfs_works():
    print("enospc: 64 KiB tmpfs")
    enospc_tmpfs()
else:
    print("enospc: LD_PRELOAD shim (no tmpfs)")
    enospc_shim()
readonly()
foreign()
writable(0o770, "group_w")
writable(0o757, "world_w")
symlinks()
done("disk_faults")
