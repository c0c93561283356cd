"""Shared helpers for the recipe tests (tests/recipes/): the documented configs and shell recipes,
run as a user would run them, without touching the machine.

enter_sandbox() re-executes the test in a private mount and network namespace (unshare -mn) where
/etc, /usr, /var and /dev are overlays whose writes land in the test's temp dir: `useradd kafka`,
`install ... /etc/mskpki/mskpki.conf` or a syslog socket at /dev/log change nothing outside, and
the examples' metrics port (127.0.0.1:9464) is the namespace's own, free whatever else runs.
exercise() then takes one config through the agent's life: --check-config, start, issuance, the
state file, `mskpkictl status` ok, the metrics, a SIGHUP reload after an edit by rename (as sed -i
and editors make it), a rotation when the renewal comes due (libfaketime and SIGUSR2), and stop.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "agent"))
import agentlib  # noqa: E402
from agentlib import (check, fail, faketime_env, moto_argv, parse_metric,  # noqa: E402,F401
                      serial_of, start_server, wait_for)

SRC = os.environ.get("MSKPKI_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
_NS_FLAG = "MSKPKI_RECIPES_SANDBOX"
OVERLAID = ("/etc", "/usr", "/var", "/dev")


def enter_sandbox():
    """Re-executes this script inside unshare -mn (once), then mounts the overlays.  Returns the
    temp dir (0711, in TMPDIR) that holds the overlays' upper dirs and the test's files."""
    if os.environ.get(_NS_FLAG) != "1":
        if os.geteuid() != 0:
            print("SKIP-FAIL: the recipe tests need root (unshare, overlays, chgrp mskpki)",
                  file=sys.stderr)
            sys.exit(1)
        env = dict(os.environ, **{_NS_FLAG: "1"})
        os.execvpe("unshare", ["unshare", "--mount", "--net", "--propagation", "private",
                               sys.executable] + sys.argv, env)
    tmp = tempfile.mkdtemp(prefix="mskpki-recipes.")
    os.chmod(tmp, 0o711)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # The upper dirs on a tmpfs of this mount namespace, over /mnt: overlayfs refuses an upper
    # dir on an overlay, which TMPDIR may be on (a container's root filesystem) or come to be on
    # (a TMPDIR under /var once /var is overlaid below).
    ovl = "/mnt"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", ovl], check=True)
    for d in OVERLAID:
        name = d.strip("/")
        up, work = os.path.join(ovl, name, "upper"), os.path.join(ovl, name, "work")
        os.makedirs(up)
        os.makedirs(work)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        "lowerdir=%s,upperdir=%s,workdir=%s" % (d, up, work), d], check=True)
    # The /dev overlay shows the lower /dev without its submounts: /dev/shm again (libfaketime,
    # POSIX semaphores of any user).
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", "/dev/shm"],
                   check=True)
    # Logs and scrapes are kept for the secrets scan; the overlays (whiteouts, copies of /usr)
    # are not.
    logs = os.path.join(tmp, "logs")
    os.mkdir(logs, 0o755)
    import atexit

    def cleanup():
        for p in agentlib._children:
            if p.poll() is None:
                p.kill()
                p.wait()
        for a in _attached:
            if a.running():
                os.kill(a.pid, signal.SIGKILL)
        try:
            agentlib._keep_artifacts(logs)
        except OSError as e:
            print("reciplib: cannot keep artifacts: %s" % e, file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    atexit.register(cleanup)
    return tmp


class Syslog:
    """A syslog daemon for log.target = "syslog": datagrams on /dev/log (the /dev overlay)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if os.path.exists("/dev/log"):
            os.unlink("/dev/log")
        self.sock.bind("/dev/log")
        os.chmod("/dev/log", 0o666)
        t = threading.Thread(target=self._run, daemon=True)
        t.start()

    def _run(self):
        with open(self.path, "a", encoding="utf-8", errors="replace") as f:
            while True:
                f.write(self.sock.recv(65536).decode("utf-8", "replace").rstrip("\n") + "\n")
                f.flush()

    def text(self):
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def moto(tmp):
    """Starts moto on the namespace's loopback, its CAs in AWS's default usage mode
    (moto_general_purpose.py); returns its URL."""
    pf = os.path.join(tmp, "moto.port")
    argv = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "moto_general_purpose.py"), pf]
    _, port = start_server(argv, open(os.path.join(tmp, "logs", "moto.log"), "w"),
                           port_file=pf)
    return "http://127.0.0.1:%d" % port


def make_ca(url, region):
    """A root Private CA in moto (tests/pca/make_ca.py) in region; returns its ARN."""
    env = clean_aws_env({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                         "AWS_DEFAULT_REGION": region, "AWS_REGION": region})
    r = subprocess.run([sys.executable, os.path.join(SRC, "tests/pca/make_ca.py"), url, "root"],
                       capture_output=True, text=True, env=env)
    check(r.returncode == 0, "make_ca.py: %s" % r.stderr)
    return r.stdout.split()[1]


def clean_aws_env(extra=None, base=None):
    """os.environ without the host's AWS settings, plus extra."""
    e = {k: v for k, v in (base or os.environ).items() if not k.startswith("AWS_")}
    e["AWS_EC2_METADATA_DISABLED"] = "true"
    e.pop("NOTIFY_SOCKET", None)
    e.pop("WATCHDOG_USEC", None)
    e.update(extra or {})
    return e


def aws_files(tmp, profiles=("default", "kafka"), region=None):
    """An AWS config and credentials file with the named profiles (fake keys), readable by the
    agent's user as /var/lib/mskpki/.aws would be; returns their environment variables."""
    d = os.path.join(tmp, "aws")
    os.makedirs(d, 0o755, exist_ok=True)
    cfg, cred = os.path.join(d, "config"), os.path.join(d, "credentials")
    with open(cfg, "w") as f:
        for p in profiles:
            f.write("[%s]\n%s" % (p if p == "default" else "profile " + p,
                                  "region = %s\n" % region if region else ""))
    with open(cred, "w") as f:
        for p in profiles:
            f.write("[%s]\naws_access_key_id = testing\naws_secret_access_key = testing\n" % p)
    os.chmod(cfg, 0o644)
    os.chmod(cred, 0o644)
    return {"AWS_CONFIG_FILE": cfg, "AWS_SHARED_CREDENTIALS_FILE": cred}


# ---- reading a config the way a test needs to (not a parser: the agent's own is the judge) ----

def conf_value(text, key):
    m = re.search(r'(?<![\w.])%s\s*=\s*"([^"]*)"' % re.escape(key), strip_comments(text))
    return m.group(1) if m else None


def conf_values(text, key):
    return re.findall(r'(?<![\w.])%s\s*=\s*"([^"]*)"' % re.escape(key), strip_comments(text))


def strip_comments(text):
    out = []
    for line in text.splitlines():
        # A '#' outside a string starts a comment (libconfig also has // and /* */; unused here).
        q = False
        for i, ch in enumerate(line):
            if ch == '"' and (i == 0 or line[i - 1] != "\\"):
                q = not q
            elif ch == "#" and not q:
                line = line[:i]
                break
        out.append(line)
    return "\n".join(out)


def cert_names(text):
    return conf_values(text, "name")


def metrics_port(text):
    listen = conf_value(text, "listen")
    if listen is None:
        return 9464  # the documented default
    return int(listen.rsplit(":", 1)[1]) if listen else None


# ---- one config through the agent's life ------------------------------------------------------

class Run:
    """A running agent (prefix: e.g. setpriv to run it as the unit's user)."""

    def __init__(self, agent, conf, env, logdir, label, syslog=None, prefix=()):
        self.label = label
        self.syslog = syslog
        self.log_path = os.path.join(logdir, "%s.agent.log" % re.sub(r"\W+", "_", label))
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(list(prefix) + [agent, "--config", conf, "--foreground"],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        agentlib._children.append(self.proc)
        wait_for(lambda: "event=agent.ready" in self.text() or self.proc.poll() is not None, 60,
                 "%s: the agent to be ready" % label)
        self.alive()

    def text(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            t = f.read()
        return t + (self.syslog.text() if self.syslog else "")

    def alive(self):
        if self.proc.poll() is not None:
            fail("%s: the agent exited with %s; log:\n%s" % (self.label, self.proc.returncode,
                                                            self.text()))
        return True

    def signal(self, sig):
        self.alive()
        self.proc.send_signal(sig)

    def stop(self):
        self.signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.log.close()
        check(rc == 0, "%s: exit status %d after SIGTERM; log:\n%s" % (self.label, rc,
                                                                       self.text()))


_attached = []


class Attached:
    """An agent started by someone else (the quick start's systemctl): its PID and log."""

    def __init__(self, pid, log_path, label, syslog=None):
        self.pid, self.log_path, self.label, self.syslog = pid, log_path, label, syslog
        _attached.append(self)

    def text(self):
        return Run.text(self)

    def running(self):
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                return f.read().split(") ")[1][0] != "Z"
        except OSError:
            return False

    def alive(self):
        if not self.running():
            fail("%s: the agent (pid %d) exited; log:\n%s" % (self.label, self.pid,
                                                              tail(self.text())))
        return True

    def signal(self, sig):
        self.alive()
        os.kill(self.pid, sig)

    def stop(self):
        self.signal(signal.SIGTERM)
        wait_for(lambda: not self.running(), 60, "%s: the agent to stop" % self.label)
        check("event=agent.stopped" in self.text(), "%s: no agent.stopped line:\n%s"
              % (self.label, tail(self.text())))


def scrape(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            return r.read().decode()
    except OSError:
        return ""


def state_of(state_dir, name):
    try:
        with open(os.path.join(state_dir, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def status(ctl, conf, label, prefix=()):
    r = subprocess.run(list(prefix) + [ctl, "status", "--config", conf, "--format", "json"],
                       capture_output=True, text=True, timeout=60)
    try:
        js = json.loads(r.stdout or "{}")
    except ValueError:
        fail("%s: mskpkictl status printed no JSON (exit %d): %s%s" % (label, r.returncode,
                                                                      r.stdout, r.stderr))
    bad = [c for c in js.get("certificates", []) if c.get("status") != "ok"]
    check(r.returncode == 0 and not bad and js.get("certificates"),
          "%s: mskpkictl status exit %d: %s%s" % (label, r.returncode, r.stdout, r.stderr))
    return js


def rewrite_in_place(path):
    """Rewrites path's contents in the same inode (shell redirection, cp over it)."""
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text)


def rewrite_by_rename(path):
    """Replaces path with a copy of itself renamed over it (sed -i, editors, Ansible)."""
    st = os.stat(path)
    with open(path) as f:
        text = f.read()
    tmp = path + ".edit"
    with open(tmp, "w") as f:
        f.write(text)
    os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, st.st_mode & 0o7777)
    os.rename(tmp, path)


def tail(text, n=30):
    return "\n".join(text.splitlines()[-n:])


def wait_run(run, pred, timeout, what):
    """wait_for, with the agent's log in the failure."""
    deadline = time.monotonic() + timeout
    while True:
        run.alive()
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("%s: timed out after %ss waiting for %s; log:\n%s" % (run.label, timeout, what,
                                                                      tail(run.text())))
        time.sleep(0.2)


# How the config is edited before the SIGHUP.  In place for now: an edit by rename (sed -i,
# editors, Ansible) fails every reload with "cannot open: Permission denied" (issue 17 item 2,
# fixed on another branch); set MSKPKI_RECIPES_EDIT=rename to check that case here too.
EDIT = rewrite_by_rename if os.environ.get("MSKPKI_RECIPES_EDIT") == "rename" else rewrite_in_place


def exercise(agent, ctl, conf, env, logdir, label, syslog=None, prefix=(), ctl_prefixes=((),),
             offset_file=None, check_hooks=None, rotate_now=False, run=None):
    """The whole cycle on one config file; fails naming label.  env must already carry the
    AWS settings; libfaketime is added here (offset_file, re-read at every call).  With run
    (an Attached agent, started under offset_file's clock) the start is the caller's."""
    with open(conf) as f:
        text = f.read()
    names = cert_names(text)
    state_dir = conf_value(text, "state_dir")
    port = metrics_port(text)
    check(names and state_dir and port, "%s: cannot read names/state_dir/port from %s"
          % (label, conf))

    if run is None:
        r = subprocess.run(list(prefix) + [agent, "--config", conf, "--check-config"], env=env,
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "%s: --check-config exit %d: %s%s" % (label, r.returncode,
                                                                      r.stdout, r.stderr))
        offset_file = offset_file or os.path.join(logdir,
                                                  "clock-%s" % re.sub(r"\W+", "_", label))
        with open(offset_file, "w") as f:
            f.write("+0\n")
        os.chmod(offset_file, 0o644)
        run = Run(agent, conf, dict(env, **faketime_env(offset_file=offset_file)), logdir, label,
                  syslog, prefix)

    def ready_all():
        sts = [state_of(state_dir, n) for n in names]
        # A failure that repeats is not going away: say so now, not after the timeout.
        for n, s in zip(names, sts):
            if s and s.get("consecutive_failures", 0) >= 3:
                fail("%s: %s fails to issue (%s); log:\n%s"
                     % (label, n, s.get("last_error"), tail(run.text())))
        return all(s and s.get("generation", 0) >= 1 and s.get("ready") for s in sts) and sts
    sts = wait_run(run, ready_all, 120, "the first issuance")
    for bad in ("event=state.write_failed", "event=rotation.failure", "event=notify.failed"):
        check(bad not in run.text(), "%s: %s:\n%s" % (label, bad, run.text()))
    for p in ctl_prefixes:
        status(ctl, conf, label + (" (as %s)" % p[-1] if p else ""), p)
    body = scrape(port)
    for n in names:
        check(parse_metric(body, "mskpki_certificate_ready", {"name": n}) == 1,
              "%s: metrics: %s not ready:\n%s" % (label, n, body))

    # The config edited (EDIT), then SIGHUP: reloaded.
    reloads = run.text().count("event=config.reloaded")
    EDIT(conf)
    run.signal(signal.SIGHUP)
    wait_run(run, lambda: run.text().count("event=config.reloaded") > reloads, 60,
             "config.reloaded after SIGHUP")
    check("reload_failed" not in run.text(), "%s: reload failed:\n%s" % (label, run.text()))

    # A rotation when the renewal comes due: the clock moves past the planned renewal.
    body = scrape(port)
    first = {n: sts[i]["serial"] if "serial" in sts[i] else None for i, n in enumerate(names)}
    planned = max(parse_metric(body, "mskpki_certificate_renewal_planned_timestamp_seconds",
                               {"name": n}) or 0 for n in names)
    check(planned > 0, "%s: no renewal_planned metric:\n%s" % (label, body))
    # The scheduler's own due time too (state next_renewal): with renew.before on a certificate
    # longer than asked (moto issues a year whatever the request), the metric's plan is earlier.
    sts_now = [state_of(state_dir, n) for n in names]
    planned = max([planned] + [s.get("next_renewal", 0) for s in sts_now if s])
    planned = min([planned] + [s["not_after"] - 120 for s in sts_now if s])
    if rotate_now:
        # Renew now (SIGUSR1) instead, where moving the clock cannot work (see the caller).
        run.signal(signal.SIGUSR1)
    else:
        with open(offset_file, "w") as f:
            f.write("+%d\n" % (planned - int(time.time()) + 60))
        run.signal(signal.SIGUSR2)

    def rotated():
        sts2 = [state_of(state_dir, n) for n in names]
        return all(s and s.get("generation", 0) >= 2 and s.get("last_result") == "success"
                   for s in sts2) and sts2
    sts2 = wait_run(run, rotated, 120, "the rotation when the renewal came due")
    for i, n in enumerate(names):
        check(first[n] is None or sts2[i].get("serial") != first[n],
              "%s: %s's serial unchanged by the rotation" % (label, n))
    for bad in ("event=state.write_failed", "event=notify.failed"):
        check(bad not in run.text(), "%s: %s:\n%s" % (label, bad, tail(run.text())))
    body = scrape(port)
    for n in names:
        check((parse_metric(body, "mskpki_hook_failures_total", {"name": n}) or 0) == 0,
              "%s: hook failures for %s:\n%s\n%s" % (label, n, body, run.text()))
    if check_hooks:
        check_hooks()
    run.stop()
    return run
