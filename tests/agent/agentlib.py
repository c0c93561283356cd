"""Shared helpers for the mskpki-agent integration tests (tests/agent/test_*.py).

Each test makes its own temp dir and config, starts the agent as a child process and always stops
it (atexit + signal handlers), then removes the dir.  Nothing listens beyond 127.0.0.1.  The
agent's metrics.listen needs a port number (1..65535) in the config, so the port is a candidate:
when another process took it first, the agent says "cannot listen on" and Agent() starts it again
on another one (retry on EADDRINUSE); the other servers bind port 0 and report their port.
"""
import atexit
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
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from mskpki_testlib import (moto_argv, stop, wait_log_port, wait_port,  # noqa: E402,F401
                            wait_port_file)

AGENT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("MSKPKI_BUILD_DIR", "."), "agent", "mskpki-agent")

# Prepended to the agent's command line by Env.start (e.g. setpriv to start it as another user).
AGENT_PREFIX = []

_children = []
_dirs = []


def _keep_artifacts(d):
    """Copies a finished test's temp dir (logs, state, keys, scrapes) for the secrets scan."""
    root = os.environ.get("MSKPKI_ARTIFACTS_DIR")
    if not root:
        return
    dest = os.path.join(root, "agent", os.path.basename(sys.argv[0]) + "-" + os.path.basename(d))
    shutil.copytree(d, dest, symlinks=True, ignore_dangling_symlinks=True, dirs_exist_ok=True)


def _cleanup():
    for p in _children:
        if p.poll() is None:
            p.kill()
            p.wait()
    for d in _dirs:
        try:
            _keep_artifacts(d)
        except OSError as e:
            print("agentlib: cannot keep artifacts of %s: %s" % (d, e), file=sys.stderr)
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, lambda *a: sys.exit(1))


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def faketime_env(offset=None, offset_file=None):
    """Environment that runs a program under libfaketime (Debian package faketime): a fixed offset
    ("+2h", "-2d") or one re-read from offset_file at every call.  Tests wait out no lifetimes."""
    import glob
    libs = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    if not libs:
        fail("libfaketime not found: install the Debian package faketime (scripts/setup.sh)")
    e = {"LD_PRELOAD": libs[0], "FAKETIME_DONT_RESET": "1",
         "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    if offset is not None:
        e["FAKETIME"] = offset
    else:
        e["FAKETIME_TIMESTAMP_FILE"] = offset_file
        e["FAKETIME_NO_CACHE"] = "1"
    return e


def candidate_port():
    """A loopback port that was free a moment ago, for the agent's metrics.listen only: whoever
    uses it must retry on "address in use" (Agent() does, Env.move_port() does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what, interval=0.2):
    """Polls pred() until it returns a true value; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


CERT_TEMPLATE = """
  {{ name = "{name}";
    subject = {{ common_name = "{name}.example.com"; organization = "Example"; }};
    san = {{ dns = [ "{name}.example.com" ]; }};
    validity = "{validity}";
    renew = {{ fraction = {fraction}; jitter = {jitter}; }};
    output = {{ directory = "{tmp}/out/{name}"; key = "client.key"; cert = "client.crt";
               chain = "ca.crt"; fullchain = "fullchain.pem"; {oextra} }};
    {hook}
    {extra}
  }}"""


class Env:
    """A temp dir with a config for a local CA and one or more certificates."""

    def __init__(self, names=("client",), validity="1h", fraction="0.6667", jitter="0.1",
                 retry_min="1s", retry_max="3s", hook=True, hook_extra="", ca_block=None,
                 cert_extra="", output_extra="", metrics_extra=""):
        self.tmp = tempfile.mkdtemp(prefix="mskpki-agent-test.")
        _dirs.append(self.tmp)
        # Searchable by others: started as root, the network process runs as agent.user
        # (mskpki) and must reach its state directory and the configuration beneath.
        os.chmod(self.tmp, 0o711)
        # The outputs' parent exists, as on a real host (the store creates only the last level).
        os.mkdir(os.path.join(self.tmp, "out"), 0o755)
        self.port = candidate_port()
        self.conf = os.path.join(self.tmp, "mskpki.conf")
        self.control_socket = os.path.join(self.tmp, "run", "control.sock")
        self.state_dir = os.path.join(self.tmp, "state")
        self.ca_dir = os.path.join(self.tmp, "ca")
        self.fail_file = os.path.join(self.tmp, "ca-fail")
        self.hook_log = os.path.join(self.tmp, "hook.log")
        self.names = list(names)
        self.validity = validity
        self.fraction = fraction
        self.jitter = jitter
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.hook = hook
        self.hook_extra = hook_extra
        self.ca_block = ca_block or ('ca = { backend = "local"; local = { directory = "%s/ca"; }; };'
                                     % self.tmp)
        self.extra_env = {}
        # Wraps the agent's command line, e.g. setpriv to run it as another user.
        self.prefix = []
        self.cert_extra = cert_extra
        self.output_extra = output_extra
        # Settings added to the metrics group; with TLS on, scrape() needs ssl_context.
        self.metrics_extra = metrics_extra
        self.ssl_context = None
        self.write_config()

    def config_text(self, names=None):
        certs = []
        for n in names or self.names:
            hook = ""
            if self.hook:
                hook = ('hook = { command = "echo $MSKPKI_CERT_NAME $MSKPKI_CERT_PATH '
                        '$MSKPKI_NOT_AFTER >> %s%s"; shell = true; timeout = "10s"; };'
                        % (self.hook_log, self.hook_extra))
            certs.append(CERT_TEMPLATE.format(name=n, validity=self.validity,
                                              fraction=self.fraction, jitter=self.jitter,
                                              tmp=self.tmp, hook=hook,
                                              extra=self.cert_extra,
                                              oextra=self.output_extra))
        return """
{ca}
state_dir = "{tmp}/state";
{control}
metrics = {{ listen = "127.0.0.1:{port}"; {mextra} }};
log = {{ level = "debug"; }};
retry = {{ min = "{rmin}"; max = "{rmax}"; }};
certificates = ({certs}
);
""".format(ca=self.ca_block, tmp=self.tmp, port=self.port, rmin=self.retry_min, rmax=self.retry_max,
           certs=",".join(certs), mextra=self.metrics_extra, control=self.control_setting())

    def control_setting(self):
        """Each test agent has its own control socket (issue 17): on the default one, shared by
        every agent of the host, another test's mskpkictl would wake this one (state_dir tells
        them apart, but a wake-up is a wake-up).  None when the path would not fit sun_path."""
        if len(self.control_socket) > 100:
            return 'control = { socket = ""; };'
        return 'control = { socket = "%s"; };' % self.control_socket

    def write_config(self, text=None, names=None):
        with open(self.conf, "w") as f:
            f.write(text if text is not None else self.config_text(names))

    def out(self, name, file="client.crt"):
        return os.path.join(self.tmp, "out", name, file)

    def state(self, name="client"):
        try:
            with open(os.path.join(self.state_dir, name + ".json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def env(self, extra=None):
        e = dict(os.environ)
        e["MSKPKI_TEST_CA_FAIL"] = self.fail_file
        e.pop("NOTIFY_SOCKET", None)
        e.pop("WATCHDOG_USEC", None)
        e.update(self.extra_env)
        if extra:
            e.update(extra)
        return e

    def run(self, *args, extra_env=None, timeout=120):
        """Runs the agent to completion (--once, --check-config...): CompletedProcess."""
        r = subprocess.run(self.prefix + [AGENT, "--config", self.conf] + list(args),
                           env=self.env(extra_env),
                           capture_output=True, text=True, timeout=timeout)
        with open(os.path.join(self.tmp, "runs.log"), "a", encoding="utf-8") as f:
            f.write("%s\n%s%s" % (" ".join(r.args), r.stdout, r.stderr))
        return r

    def start(self, extra_env=None):
        return Agent(self, extra_env)

    def set_port(self, port):
        """Rewrites metrics.listen in the config file (whatever wrote it) to port."""
        with open(self.conf) as f:
            text = f.read()
        old = "127.0.0.1:%d" % self.port
        check(old in text, "metrics.listen %s not in %s" % (old, self.conf))
        self.port = port
        with open(self.conf, "w") as f:
            f.write(text.replace(old, "127.0.0.1:%d" % port))

    def scrape(self, path="/metrics"):
        try:
            scheme = "https" if self.ssl_context is not None else "http"
            with urllib.request.urlopen("%s://127.0.0.1:%d%s" % (scheme, self.port, path),
                                        timeout=5, context=self.ssl_context) as r:
                body = r.read().decode()
            # Kept for the secrets scan (test_secrets.py): metrics must not leak either.
            with open(os.path.join(self.tmp, "scrapes.txt"), "a", encoding="utf-8") as f:
                f.write(body)
            return r.status, body
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            return None, ""

    def metric(self, name, labels=None):
        """Value of one sample (None when absent or no server)."""
        status, text = self.scrape()
        if status != 200:
            return None
        return parse_metric(text, name, labels)


def parse_metric(text, name, labels=None):
    labels = labels or {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


class Agent:
    """A running mskpki-agent; its stderr goes to a log file in the temp dir."""

    def __init__(self, env, extra_env=None):
        self.env = env
        self.log_path = os.path.join(env.tmp, "agent-%d.log" % len(_children))
        self.log = open(self.log_path, "w")
        for attempt in range(5):
            self.proc = subprocess.Popen(AGENT_PREFIX + env.prefix +
                                         [AGENT, "--config", env.conf, "--foreground"],
                                         env=env.env(extra_env), stdout=self.log,
                                         stderr=subprocess.STDOUT)
            _children.append(self.proc)
            # Our agent's own word that it listens: a scrape alone could reach whoever took the
            # port.  agent.ready comes after the metrics server is up.
            wait_for(lambda: "event=agent.ready" in self.text() or self.proc.poll() is not None,
                     30, "the agent to be ready")
            if self.proc.poll() is None or "cannot listen on" not in self.text() or attempt == 4:
                break
            self.log.write("== port %d was taken: again on another\n" % env.port)
            self.log.flush()
            env.set_port(candidate_port())
        wait_for(lambda: self.alive_or_fail() and env.scrape("/healthz")[0] is not None, 30,
                 "the metrics server to answer")

    def alive_or_fail(self):
        if self.proc.poll() is not None:
            fail("agent exited with %s; log:\n%s" % (self.proc.returncode, self.text()))
        return True

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def signal(self, sig):
        self.alive_or_fail()
        self.proc.send_signal(sig)

    def stop(self):
        self.alive_or_fail()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.log.close()
        check(rc == 0, "agent exit status %d after SIGTERM; log:\n%s" % (rc, self.text()))
        check("event=agent.stopped" in self.text(), "no agent.stopped line in the log")


def serial_of(path):
    r = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-serial"], capture_output=True,
                       text=True, check=True)
    return r.stdout.strip()


def openssl_verify_client(env, name="client"):
    r = subprocess.run(["openssl", "verify", "-purpose", "sslclient", "-CAfile",
                        os.path.join(env.ca_dir, "ca.crt"), env.out(name)],
                       capture_output=True, text=True)
    check(r.returncode == 0, "openssl verify failed: %s %s" % (r.stdout, r.stderr))


_servers = []


def _stop_servers():
    for p in _servers:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


atexit.register(_stop_servers)


def start_server(argv, log, port_file=None, log_port=None):
    """Starts a loopback server (moto, a fake, prometheus) that binds port 0 itself and reports
    the port: in port_file, or in its log (log_port: the log's path and a regex whose group 1 is
    the port).  Waits until the port accepts; stopped at exit.  Returns (process, port)."""
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    _servers.append(p)
    try:
        if port_file is not None:
            port = wait_port_file(port_file, p)
        else:
            port = wait_log_port(log_port[0], log_port[1], p)
        wait_port(port, p)
    except RuntimeError as e:
        fail("server %s: %s" % (argv[1], e))
    return p, port


def aws_test_environment():
    """Fake credentials and region in os.environ; nothing from the host's AWS setup."""
    for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ACM_PCA"):
        os.environ.pop(k, None)
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/nonexistent/mskpki-test", "AWS_SHARED_CREDENTIALS_FILE":
        "/nonexistent/mskpki-test", "AWS_EC2_METADATA_DISABLED": "true",
    })


def done(name):
    print("PASS: " + name)
    sys.exit(0)


class NotifyListener(threading.Thread):
    """systemd's side of NOTIFY_SOCKET: reads every datagram as systemd would (so the agent's
    sends never find a full queue) and keeps it with its arrival time (monotonic)."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock = sock
        self.msgs = []
        self.lock = threading.Lock()
        self.start()

    def run(self):
        while True:
            try:
                m = self.sock.recv(4096).decode()
            except OSError:
                return
            with self.lock:
                self.msgs.append((time.monotonic(), m))

    def get(self):
        """The messages so far, oldest first."""
        with self.lock:
            return [m for _, m in self.msgs]

    def timed(self):
        """(arrival time, message) pairs so far."""
        with self.lock:
            return list(self.msgs)
