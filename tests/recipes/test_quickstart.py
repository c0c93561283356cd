#!/usr/bin/env python3
"""The quick start's shell commands, run verbatim (issue 17: "every documented default works").

Usage: test_quickstart.py MSKPKI_AGENT MSKPKICTL

Every ```sh block of docs/quickstart-aws.md runs, in order and unchanged, under `sh -e` as root,
in a private mount and network namespace whose /etc, /usr, /var and /dev are overlays
(reciplib.enter_sandbox): `install ... /etc/mskpki/mskpki.conf`, `chgrp mskpki`, the unit's drop-in
land in the test's temp dir, and the agent's 127.0.0.1:9464 is the namespace's own.  Then the
agent, started the way the unit starts it (as the user mskpki), issues from moto with the files
the recipe made, and goes through reciplib.exercise() (status as root and as mskpki, metrics,
SIGHUP reload, a rotation whose hook is the example's `systemctl reload kafka-producer.service`).

The rules for what cannot run here, each a command defined before the recipe (nothing else in the
text is touched):
  aws        needs a real AWS account: skipped, logged as SKIPPED.  Its CA comes from moto instead
             (tests/pca/make_ca.py, in the example ARN's region eu-west-1).
  kcat       needs a real MSK cluster: skipped, logged as SKIPPED.
  dpkg -i    the .deb is not built here: the build's own `cmake --install` (the layout the package
             is made from) into the overlays, then the package's postinst (packaging/debian).
  $EDITOR    the user's edit: ca_arn becomes moto's CA (the rest of the example is kept).
  systemctl  (a stub in the /usr overlay; /bin/systemctl is also the example's hook)
             daemon-reload: nothing; enable --now mskpki-agent: what the unit does (ExecStartPre,
             then ExecStart as User=mskpki with UMask=0077 and the drop-in's CAP_CHOWN, returning
             at READY=1 like Type=notify); reload UNIT (the hook): recorded.
The AWS settings the agent gets from its environment, as a unit's Environment= would give them:
the moto endpoint (AWS_ENDPOINT_URL_ACM_PCA) and an AWS config with the example's profile "kafka".
"""
import json
import os
import re
import stat
import subprocess
import sys

import reciplib
from reciplib import check

AGENT, CTL = sys.argv[1], sys.argv[2]
SRC = reciplib.SRC
BUILD = os.environ.get("MSKPKI_BUILD_DIR", os.path.dirname(os.path.dirname(AGENT)))
DOC = os.path.join(SRC, "docs", "quickstart-aws.md")

tmp = reciplib.enter_sandbox()
logs = os.path.join(tmp, "logs")
syslog = reciplib.Syslog(os.path.join(logs, "syslog.log"))
url = reciplib.moto(tmp)
arn = reciplib.make_ca(url, "eu-west-1")


def sh_blocks(path):
    lines = open(path).read().split("\n")
    out, i = [], 0
    while i < len(lines):
        if re.match(r"^\s*```", lines[i]):
            j = i + 1
            while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
                j += 1
            if lines[i].strip() == "```sh":
                out.append((i + 1, "\n".join(lines[i + 1:j]) + "\n"))
            i = j
        i += 1
    return out


blocks = sh_blocks(DOC)
check(blocks, "no ```sh block in %s" % DOC)

# The files the stubs use.
aux = os.path.join(tmp, "aux")
os.makedirs(aux, 0o755)
hooklog = os.path.join(aux, "hooklog")
os.mkdir(hooklog)
os.chmod(hooklog, 0o777)  # the hook runs as mskpki
offset_file = os.path.join(aux, "clock")
with open(offset_file, "w") as f:
    f.write("+0\n")
os.chmod(offset_file, 0o644)
agent_log = os.path.join(logs, "quickstart.agent.log")
pid_file = os.path.join(aux, "agent.pid")
unit_env = reciplib.clean_aws_env(dict(reciplib.aws_files(aux),
                                       AWS_ENDPOINT_URL_ACM_PCA=url,
                                       **reciplib.faketime_env(offset_file=offset_file)))
# libfaketime only from the agent's user on (set by `env` after setpriv): preloaded into setpriv,
# its semaphore would be root's, and the agent (same PID) could not open it.
unit_env["MK_LD_PRELOAD"] = unit_env.pop("LD_PRELOAD")
unit_env_file = os.path.join(aux, "unit-env.json")
with open(unit_env_file, "w") as f:
    json.dump(unit_env, f)

editor = os.path.join(aux, "editor")
with open(editor, "w") as f:
    f.write("""#!/usr/bin/env python3
import re, sys
p = sys.argv[1]
t = open(p).read()
t2 = re.sub(r'ca_arn = "[^"]*"', 'ca_arn = "%s"', t, count=1)
assert t2 != t, "no ca_arn in " + p
open(p, "w").write(t2)
""" % arn)
os.chmod(editor, 0o755)

SYSTEMCTL = r'''#!/usr/bin/env python3
"""systemctl stub of tests/recipes/test_quickstart.py (see its docstring)."""
import json, os, socket, subprocess, sys, time
args = [a for a in sys.argv[1:] if not a.startswith("--") or a == "--now"]
HOOKLOG, ENVF, LOG, PIDF, SUP = %r, %r, %r, %r, %r
if args[:1] == ["daemon-reload"]:
    sys.exit(0)
if args[:1] in (["reload"], ["reload-or-restart"], ["restart"]):
    with open(os.path.join(HOOKLOG, "calls"), "a") as f:
        f.write(" ".join(sys.argv[1:]) + "\n")
    sys.exit(0)
if args[:3] != ["enable", "--now", "mskpki-agent"]:
    sys.exit("systemctl stub: unsupported: %%r" %% sys.argv[1:])
env = json.load(open(ENVF))
as_unit = ["setpriv", "--reuid=mskpki", "--regid=mskpki", "--init-groups",
           "--inh-caps=+chown", "--ambient-caps=+chown", "--bounding-set=-all,+chown",
           "env", "LD_PRELOAD=" + env.pop("MK_LD_PRELOAD")]
pre = subprocess.run(as_unit + [SUP, "--check-config", "--config", "/etc/mskpki/mskpki.conf"],
                     env=env, capture_output=True, text=True)
if pre.returncode != 0:
    sys.exit("ExecStartPre failed (%%d): %%s%%s" %% (pre.returncode, pre.stdout, pre.stderr))
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
npath = os.path.join(os.path.dirname(PIDF), "notify.sock")
if os.path.exists(npath):
    os.unlink(npath)
ns.bind(npath)
os.chmod(npath, 0o777)
ns.settimeout(60)
env["NOTIFY_SOCKET"] = npath
os.umask(0o077)
p = subprocess.Popen(as_unit + [SUP, "--config", "/etc/mskpki/mskpki.conf", "--foreground"],
                     env=env, stdout=open(LOG, "a"), stderr=subprocess.STDOUT,
                     start_new_session=True)
with open(PIDF, "w") as f:
    f.write("%%d\n" %% p.pid)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        msg = ns.recv(4096).decode()
    except socket.timeout:
        break
    if "READY=1" in msg.split("\n"):
        # systemd keeps listening (STATUS=, WATCHDOG=1, STOPPING=1): a child does, until the
        # agent is gone.
        if os.fork() == 0:
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            ns.settimeout(1)
            def running(pid):
                try:
                    with open("/proc/%%d/stat" %% pid) as f:
                        return f.read().split(") ")[1][0] != "Z"
                except OSError:
                    return False
            while running(p.pid):
                try:
                    ns.recv(4096)
                except socket.timeout:
                    pass
            os._exit(0)
        sys.exit(0)
sys.exit("mskpki-agent: no READY=1 (exit %%r); see %%s" %% (p.poll(), LOG))
''' % (hooklog, unit_env_file, agent_log, pid_file, "/usr/sbin/mskpki-agent")

PREAMBLE = r'''
# Rules of tests/recipes/test_quickstart.py: what cannot run here (see its docstring).
aws() { echo "SKIPPED (rule: needs a real AWS account): aws $*" >&2; }
kcat() { echo "SKIPPED (rule: needs a real MSK cluster): kcat $*" >&2; }
dpkg() {
    [ "$1" = -i ] || { echo "dpkg stub: only -i" >&2; return 1; }
    echo "dpkg -i $2: cmake --install of the build, then the package's postinst" >&2
    cmake --install "$MK_BUILD" --prefix /usr >/dev/null || return 1
    sh "$MK_SRC/packaging/debian/postinst" configure
}
'''

# The systemctl stub sits where the hook and the recipe find it (/bin is /usr/bin).
usr_bin_systemctl = "/usr/bin/systemctl"
with open(usr_bin_systemctl, "w") as f:
    f.write(SYSTEMCTL)
os.chmod(usr_bin_systemctl, 0o755)

script = PREAMBLE + "".join("# ---- %s line %d\n%s" % (os.path.basename(DOC), ln, b)
                            for ln, b in blocks)
with open(os.path.join(logs, "quickstart.sh"), "w") as f:
    f.write(script)
env = dict(os.environ, EDITOR=editor, MK_BUILD=BUILD, MK_SRC=SRC)
r = subprocess.run(["sh", "-ex", "-c", script], env=env, capture_output=True, text=True,
                   timeout=300)
with open(os.path.join(logs, "quickstart.out"), "w") as f:
    f.write(r.stdout + r.stderr)
# The agent the recipe started (stopped at exit whatever happens next).
run = None
if os.path.exists(pid_file):
    run = reciplib.Attached(int(open(pid_file).read()), agent_log, "quickstart", syslog)
check(r.returncode == 0, "the quick start's commands failed (exit %d):\n%s%s\nagent log:\n%s"
      % (r.returncode, r.stdout, reciplib.tail(r.stderr, 60),
         reciplib.tail(open(agent_log).read() if os.path.exists(agent_log) else "") +
         reciplib.tail(syslog.text())))
for rule in ("SKIPPED (rule: needs a real AWS account): aws acm-pca",
             "SKIPPED (rule: needs a real MSK cluster): kcat"):
    check(rule in r.stderr, "rule not applied: %s" % rule)
print("skipped by rule:\n  " + "\n  ".join(l for l in r.stderr.splitlines()
                                            if l.startswith("SKIPPED")))

# What the recipe made, as the quick start describes it.
pw = "/etc/mskpki/producer.p12.pass"
st = os.stat(pw)
check(stat.S_IMODE(st.st_mode) == 0o640 and st.st_uid == 0 and
      st.st_gid == __import__("grp").getgrnam("mskpki").gr_gid,
      "%s is %o %d:%d, not 0640 root:mskpki" % (pw, st.st_mode, st.st_uid, st.st_gid))

check(run is not None, "no agent started by the recipe")
as_mskpki = ("setpriv", "--reuid=mskpki", "--regid=mskpki", "--init-groups")
reciplib.exercise(AGENT, "/usr/bin/mskpkictl", "/etc/mskpki/mskpki.conf", unit_env, logs,
                  "quickstart", syslog=syslog, ctl_prefixes=((), as_mskpki),
                  offset_file=offset_file, run=run, rotate_now=True,
                  check_hooks=lambda: check(
                      "reload kafka-producer.service" in
                      open(os.path.join(hooklog, "calls")).read(),
                      "the example's hook (systemctl reload kafka-producer.service) did not run"))

# The outputs where the Kafka clients' config points.
out = "/etc/kafka/ssl/producer"
key = os.stat(os.path.join(out, "producer.key"))
check(stat.S_IMODE(key.st_mode) == 0o640 and key.st_gid == 0,
      "producer.key: mode %o gid %d, not 0640 group root" % (key.st_mode, key.st_gid))
r = subprocess.run(["openssl", "pkcs12", "-in", os.path.join(out, "producer.p12"), "-noout",
                    "-passin", "file:" + pw], capture_output=True, text=True)
check(r.returncode == 0, "producer.p12 does not open with %s: %s" % (pw, r.stderr))
print("PASS: quickstart")
