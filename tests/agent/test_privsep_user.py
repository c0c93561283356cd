#!/usr/bin/env python3
"""Least privilege for the network process (issue 16): started as root, it runs as agent.user
(mskpki) with no capability and no_new_privs, under Landlock and under the mount namespace
fallback alike; it may write its state directory and nowhere else.  A test-only hostile mode
(MSKPKI_TEST_HOSTILE, agent/hostile_fs.c) plays a compromised network process against the files
the supervisor trusts: the hook program, its directory, the configuration, /dev/shm, /tmp.
Started as mskpki itself (the packaged unit's User=), a hook program owned by mskpki is still
out of the network process's reach (Landlock's write allow-list)."""
import hashlib
import os
import pwd
import subprocess
import sys

from agentlib import Env, check, done, wait_for

if os.geteuid() != 0:
    print("SKIP: needs root (CI runs the tests as root)")
    sys.exit(77)

MSKPKI = pwd.getpwnam("mskpki")
ATTACKS = ("hook_write", "hook_dir", "config_write", "shm_create", "tmp_create", "setuid_root")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def netproc_pid(agent):
    def find():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read()
                with open("/proc/%s/comm" % pid) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == agent.proc.pid and comm == "mskpki-netproc":
                return int(pid)
        return None
    return wait_for(find, 20, "the network process")


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def hostile_lines(agent):
    got = {}
    for line in agent.text().splitlines():
        if "event=hostile " in line:
            attack = line.split("attack=")[1].split()[0]
            result = line.split("result=")[1].split()[0]
            got.setdefault(attack, []).append(result)
    return got


def make_env(owner_uid=0, owner_gid=0):
    env = Env(hook=False)
    hooks = os.path.join(env.tmp, "hooks")
    os.mkdir(hooks, 0o755)
    prog = os.path.join(hooks, "reload.sh")
    with open(prog, "w") as f:
        f.write("#!/bin/sh\necho \"$MSKPKI_CERT_NAME\" >> %s/hook.log\n" % env.tmp)
    os.chmod(prog, 0o755)
    os.chown(hooks, owner_uid, owner_gid)
    os.chown(prog, owner_uid, owner_gid)
    env.cert_extra = 'hook = { command = [ "%s" ]; timeout = "10s"; };' % prog
    # The passphrase file: root's alone (0600) here; the cases started as mskpki make it
    # mskpki's (0600), so the file mode would let the network process read it: the sandbox
    # must not.
    pass_file = os.path.join(env.tmp, "key.pass")
    with open(os.open(pass_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("privsep-user-passphrase\n")
    env.output_extra = 'key_passphrase_file = "%s";' % pass_file
    env.write_config()
    return env, hooks, prog


def secrets(env):
    """What the issue's attacker copied: the encrypted key, its passphrase, the local CA key."""
    return (env.out("client", "client.key"), os.path.join(env.tmp, "key.pass"),
            os.path.join(env.ca_dir, "ca.key"))


def probe_lines(agent):
    return {l.split("what=")[1].split()[0]: int(l.split("errno=")[1].split()[0])
            for l in agent.text().splitlines() if "event=test.probe" in l and "errno=" in l}


def run_case(label, env, prog, extra_env, expect_uid):
    before = (digest(prog), digest(env.conf), sorted(os.listdir(os.path.dirname(prog))))
    # Read attacks, after the first pass (the key and the CA key exist then): the network
    # process, whatever its uid and sandbox, opens none of them.
    reads = ["open:" + p for p in secrets(env)] + ["open:" + env.state_dir]
    extra = {"MSKPKI_TEST_HOSTILE": "fs_all", "MSKPKI_TEST_PROBE": ",".join(reads)}
    extra.update(extra_env)
    agent = env.start(extra)
    pid = netproc_pid(agent)
    st = status(pid)
    uids = st["Uid"].split()
    check(all(int(u) == expect_uid for u in uids),
          "%s: network process uids %s, want %d" % (label, uids, expect_uid))
    check(all(int(g) == MSKPKI.pw_gid for g in st["Gid"].split()),
          "%s: network process gids %s" % (label, st["Gid"]))
    for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        check(int(st[cap], 16) == 0, "%s: %s = %s" % (label, cap, st[cap]))
    check(st["NoNewPrivs"] == "1", "%s: NoNewPrivs %s" % (label, st["NoNewPrivs"]))
    # The key process is not the network process's user: it keeps the outputs to itself.
    wait_for(lambda: env.state() and env.state().get("ready"), 60, label + ": a ready certificate")
    wait_for(lambda: os.path.exists(os.path.join(env.tmp, "hook.log")), 30, label + ": the hook")
    got = wait_for(lambda: (lambda g: g if all(a in g for a in ATTACKS + ("state_create",))
                            else None)(hostile_lines(agent)), 20, label + ": the hostile lines")
    for a in ATTACKS:
        check(set(got[a]) == {"refused"}, "%s: attack %s: %s" % (label, a, got[a]))
    probed = wait_for(lambda: (lambda g: g if len(g) == len(reads) else None)(probe_lines(agent)),
                      30, label + ": the read probes")
    for p in secrets(env):
        check(os.path.exists(p), "%s: %s was not written" % (label, p))
        check(probed["open:" + p] != 0, "%s: the network process read %s" % (label, p))
    # The control: the same probe opens what the network process may read.
    check(probed["open:" + env.state_dir] == 0, "%s: state_dir probe %r" % (label, probed))
    # The control: the same code writes where it may, so the refusals above are the sandbox's.
    check(got["state_create"] == ["accepted"], "%s: state_create %s" % (label, got["state_create"]))
    st_file = os.path.join(env.state_dir, "client.json")
    check(os.stat(st_file).st_uid == expect_uid, "%s: the state file's owner" % label)
    check(os.stat(env.state_dir).st_uid == expect_uid, "%s: the state dir's owner" % label)
    after = (digest(prog), digest(env.conf), sorted(os.listdir(os.path.dirname(prog))))
    check(before == after, "%s: the hook, its directory or the config changed" % label)
    check(not [n for n in os.listdir("/dev/shm") if n.startswith(".mskpki-hostile")],
          "%s: a file was left in /dev/shm" % label)
    if label.startswith("root"):
        # The parent-death signal survives the change of uid: a killed supervisor takes the
        # network process with it.
        agent.proc.kill()
        agent.proc.wait()
        wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
                 open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] == "Z", 10,
                 label + ": the network process to die with the supervisor")
        agent.log.close()
        return agent
    agent.stop()
    return agent


# 1. Started as root, with Landlock: the network process runs as mskpki.  The supervisor hands
#    it the state directory and the records already there, but not a hard link to root's file.
env, hooks, prog = make_env()
os.mkdir(env.state_dir, 0o750)
with open(os.path.join(env.state_dir, "old.json"), "w") as f:
    f.write("{}\n")
secret = os.path.join(env.tmp, "root-secret")
with open(secret, "w") as f:
    f.write("root's\n")
os.link(secret, os.path.join(env.state_dir, "link.json"))
a = run_case("root+landlock", env, prog, {}, MSKPKI.pw_uid)
check(os.stat(os.path.join(env.state_dir, "old.json")).st_uid == MSKPKI.pw_uid,
      "the records already in state_dir were not handed to mskpki")
check(os.stat(secret).st_uid == 0, "a hard link in state_dir gave root's file away")
check(os.stat(env.state_dir).st_mode & 0o777 == 0o755, "state_dir mode")
check("fallback=" not in a.text(), "root+landlock: the fallback was taken")

# 2. Started as root, without Landlock (the mount namespace fallback): the same.
env, hooks, prog = make_env()
a = run_case("root+namespace", env, prog, {"MSKPKI_TEST_NO_LANDLOCK": "1"}, MSKPKI.pw_uid)
check("fallback=mount_namespace userns=no" in a.text(),
      "root+namespace: no mount namespace fallback in the log:\n" + a.text())

# 3. Started as mskpki (the packaged unit), the hook program and its directory owned by mskpki:
#    file modes would let the network process write them; the write allow-list does not.
env, hooks, prog = make_env(MSKPKI.pw_uid, MSKPKI.pw_gid)
for root, dirs, files in os.walk(env.tmp):
    for n in dirs + files:
        os.lchown(os.path.join(root, n), MSKPKI.pw_uid, MSKPKI.pw_gid)
os.chown(env.tmp, MSKPKI.pw_uid, MSKPKI.pw_gid)
setpriv = ["setpriv", "--reuid=mskpki", "--regid=mskpki", "--init-groups", "--"]
import agentlib  # noqa: E402
agentlib.AGENT_PREFIX = setpriv
a = run_case("mskpki+landlock", env, prog, {}, MSKPKI.pw_uid)
check("hook_write result=refused errno=13" in a.text(), "mskpki+landlock: not Landlock's EACCES")

# 4. The same without Landlock: a user namespace of its own, every mount read-only but state_dir.
env2, hooks2, prog2 = make_env(MSKPKI.pw_uid, MSKPKI.pw_gid)
for root, dirs, files in os.walk(env2.tmp):
    for n in dirs + files:
        os.lchown(os.path.join(root, n), MSKPKI.pw_uid, MSKPKI.pw_gid)
os.chown(env2.tmp, MSKPKI.pw_uid, MSKPKI.pw_gid)
a = run_case("mskpki+namespace", env2, prog2, {"MSKPKI_TEST_NO_LANDLOCK": "1"}, MSKPKI.pw_uid)
check("fallback=mount_namespace userns=yes" in a.text(), "mskpki+namespace: no user namespace")
check("hook_write result=refused errno=30" in a.text(), "mskpki+namespace: not EROFS:\n" + a.text())
done("privsep_user")
