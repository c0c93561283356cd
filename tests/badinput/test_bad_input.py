#!/usr/bin/env python3
"""Bad input everywhere (issue 8): every file of tests/data/bad/ and every bad command line of
tests/data/bad/args.txt, fed to mskpki-agent and each mskpkictl subcommand.

Each case must end with a non-zero exit, a one-line error naming the offending file, line, field
or flag, no signal, no sanitizer report, and no partial file left behind.  AWS answers come from a
local HTTP server answering every call with the bad body; Kafka responses from a local TLS server
that completes the handshake and then sends the bad frame.  Everything the programs print is kept
under $MSKPKI_BUILD_DIR/artifacts/bad_input/ for the secrets scan (test_secrets.py).
"""
import http.server
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

SRC = os.environ["MSKPKI_SOURCE_DIR"]
BUILD = os.environ["MSKPKI_BUILD_DIR"]
BAD = os.path.join(SRC, "tests", "data", "bad")
AGENT = os.path.join(BUILD, "agent", "mskpki-agent")
CTL = os.path.join(BUILD, "ctl", "mskpkictl")
ARTIFACTS = os.path.join(BUILD, "artifacts", "bad_input")
# The fake credentials of this test: the secrets scan looks for them in every artifact.
FAKE_KEY_ID = "AKIDBADINPUT00000000"
FAKE_SECRET = "badinput/fake+secret/KEY0123456789abcdefXYZ"
SANITIZER_MARKS = ("Sanitizer", "runtime error:", "Traceback", "LeakSanitizer")

failures = []
count = 0


def record(name, proc):
    """Keeps what a case printed for the secrets scan."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:120]
    with open(os.path.join(ARTIFACTS, safe + ".log"), "w", encoding="utf-8") as f:
        f.write("argv: %s\nexit: %d\n--- stdout\n%s\n--- stderr\n%s\n" %
                (" ".join(proc.args), proc.returncode, proc.stdout, proc.stderr))


def is_error_line(line):
    """A program's error: "mskpkictl probe: ..." / "mskpki-agent: ..." or a level=error log line."""
    return line.startswith(("mskpki", os.path.join(BUILD, ""))) or " level=error " in line


def check(name, argv, needle, env=None, where="stderr", watch_dir=None, timeout=60,
          report=None, may_succeed=False):
    """Runs argv and asserts the bad-input contract.  needle must appear on one error line of
    stderr (where="stderr"), or anywhere in stdout, stderr and the report file (where="any")."""
    global count
    count += 1
    before = set(os.listdir(watch_dir)) if watch_dir else None
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", env=full_env,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    record(name, proc)
    problems = []
    if proc.returncode < 0:
        problems.append("killed by signal %d" % -proc.returncode)
    elif proc.returncode == 0 and not may_succeed:
        problems.append("exit 0")
    for mark in SANITIZER_MARKS:
        if mark in proc.stderr:
            problems.append("sanitizer/crash report (%s)" % mark)
    if "\x1b" in proc.stderr or "\x07" in proc.stderr:
        problems.append("control characters from the input reached stderr")
    if where == "stderr":
        lines = [line for line in proc.stderr.splitlines() if is_error_line(line)]
    else:
        lines = (proc.stdout + proc.stderr).splitlines()
        if report is not None and os.path.exists(report):
            with open(report, encoding="utf-8", errors="replace") as f:
                lines += f.read().splitlines()
    if not (proc.returncode == 0 and may_succeed) and not any(needle in line for line in lines):
        problems.append("no %s line names %r" % ("error" if where == "stderr" else "", needle))
    if watch_dir is not None:
        left = set(os.listdir(watch_dir)) - before
        if left:
            problems.append("left behind in %s: %s" % (watch_dir, sorted(left)))
    if problems:
        failures.append("%s: %s\n  argv: %s\n  exit %d\n  stderr: %s" %
                        (name, "; ".join(problems), " ".join(argv), proc.returncode,
                         proc.stderr[:600]))


def cli_cases():
    with open(os.path.join(BAD, "args.txt"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.startswith("#") or not line.strip():
                continue
            prog, needle, args = line.rstrip("\n").split("\t")
            args = [a.replace("@BAD@", BAD) for a in shlex.split(args)]
            needle = needle.replace("@BAD@", BAD)
            exe = AGENT if prog == "agent" else CTL
            check("args.txt:%d" % n, [exe] + args, needle)


def config_cases():
    """Every broken config, through both programs that read one."""
    for d in (os.path.join(BAD, "conf"), os.path.join(SRC, "tests", "data", "conf")):
        for name in sorted(os.listdir(d)):
            if not (name.startswith("bad") or d.endswith("bad/conf")) or \
                    not name.endswith(".conf"):
                continue
            path = os.path.join(d, name)
            # file:line: or file: names the file; the line is there for every syntax error.
            check("conf-agent-" + name, [AGENT, "--check-config", "--config", path], path + ":")
            if d.endswith("bad/conf"):
                check("conf-status-" + name, [CTL, "status", "--config", path], path + ":")


def pem_cases(tmp):
    """Broken PEM/DER as the probe's CA, certificate and key, and as the local CA's files."""
    good_key = os.path.join(tmp, "good.key")
    good_cert = os.path.join(tmp, "good.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", good_key, "-out", good_cert,
                    "-subj", "/CN=bad-input", "-days", "2"], check=True, capture_output=True)
    for name in sorted(os.listdir(os.path.join(BAD, "pem"))):
        path = os.path.join(BAD, "pem", name)
        base = [CTL, "probe", "--bootstrap", "127.0.0.1:9", "--timeout", "2"]
        check("pem-ca-" + name, base + ["--ca-file", path], path)
        check("pem-cert-" + name, base + ["--ca-file", good_cert, "--cert", path, "--key",
                                         good_key], path)
        check("pem-key-" + name, base + ["--ca-file", good_cert, "--cert", good_cert, "--key",
                                        path], path)
        # The local CA's certificate and key files, read by the agent.
        root = os.path.join(tmp, "ca-" + name)
        cadir = os.path.join(root, "ca")
        out = os.path.join(root, "out")
        for sub in (cadir, out, os.path.join(root, "state")):
            os.makedirs(sub)
        shutil.copy(path, os.path.join(cadir, "ca.crt"))
        shutil.copy(path, os.path.join(cadir, "ca.key"))
        os.chmod(os.path.join(cadir, "ca.key"), 0o600)
        cfg = os.path.join(root, "mskpki.conf")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(LOCAL_CONF % {"root": root})
        check("pem-localca-" + name, [AGENT, "--once", "--config", cfg],
              os.path.join(cadir, "ca."), watch_dir=out)


LOCAL_CONF = """
ca = { backend = "local"; local = { directory = "%(root)s/ca"; common_name = "bad CA"; }; };
state_dir = "%(root)s/state";
log = { level = "info"; target = "stderr"; };
certificates = ( {
    name = "bad";
    subject = { common_name = "bad.example.com"; };
    validity = "1d";
    output = { directory = "%(root)s/out"; key = "client.key"; cert = "client.crt"; };
} );
"""


class BadAnswer(http.server.BaseHTTPRequestHandler):
    """Answers every AWS call with the current bad body and status 200 (or 400 for errors)."""
    body = b""
    status = 200

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(BadAnswer.status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(BadAnswer.body)))
        self.end_headers()
        self.wfile.write(BadAnswer.body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


def json_cases(tmp):
    """Broken AWS answers for audit (every listing) and probe --cluster-arn (GetBootstrapBrokers)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BadAnswer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d" % server.server_address[1]
    env = {"AWS_ACCESS_KEY_ID": FAKE_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
           "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_MAX_ATTEMPTS": "1",
           "AWS_EC2_METADATA_DISABLED": "true"}
    outdir = os.path.join(tmp, "reports")
    os.makedirs(outdir)
    arn = "arn:aws:kafka:us-east-1:111122223333:cluster/bad/11111111-aaaa-4bbb-8ccc-000000000001-1"
    try:
        for name in sorted(os.listdir(os.path.join(BAD, "json"))):
            with open(os.path.join(BAD, "json", name), "rb") as f:
                BadAnswer.body = f.read()
            for status in (200, 400):
                BadAnswer.status = status
                tag = "%s-%d" % (name, status)
                # An audit that cannot read an answer reports ERROR findings (exit 1) or cannot
                # run (exit 3); the report must still be whole: written completely or not at all.
                # An empty object (or body) with 200 is an empty listing, as the SDKs read it.
                report = os.path.join(outdir, "report-%s.json" % tag)
                check("json-audit-" + tag,
                      [CTL, "audit", "--endpoint-url", url, "--region", "us-east-1",
                       "--checks", "msk.kafka_version", "--format", "json", "--output", report],
                      "ERROR", env=env, where="any", report=report,
                      may_succeed=(name in ("empty", "control_chars") and status == 200))
                leftovers = [f for f in os.listdir(outdir) if not f.startswith("report-")
                             or not f.endswith(".json")]
                if leftovers:
                    failures.append("json-audit-%s: partial files %s" % (tag, leftovers))
                check("json-probe-" + tag,
                      [CTL, "probe", "--cluster-arn", arn, "--region", "us-east-1",
                       "--endpoint-url", url, "--ca-file", os.path.join(tmp, "good.crt"),
                       "--timeout", "2"], "GetBootstrapBrokers", env=env)
        # The report cannot be written: no temporary file may stay next to where it would go.
        BadAnswer.body, BadAnswer.status = b'{"clusterInfoList": []}', 200
        os.makedirs(os.path.join(outdir, "is-a-dir.json"))
        check("audit-output-is-dir",
              [CTL, "audit", "--endpoint-url", url, "--region", "us-east-1", "--checks",
               "msk.kafka_version", "--output", os.path.join(outdir, "is-a-dir.json")],
              "is-a-dir.json", env=env, watch_dir=outdir)
        check("audit-output-no-dir",
              [CTL, "audit", "--endpoint-url", url, "--region", "us-east-1", "--checks",
               "msk.kafka_version", "--output", os.path.join(outdir, "missing", "r.json")],
              "missing/r.json", env=env, watch_dir=outdir)
    finally:
        server.shutdown()
        server.server_close()


def kafka_server(tmp, frame):
    """A TLS listener that completes the handshake, reads the request and answers with frame."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(tmp, "good.crt"), os.path.join(tmp, "good.key"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(os.path.join(tmp, "good.crt"))
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    stop = threading.Event()

    def serve():
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(5)
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(4096)
                    tls.sendall(frame)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()

    def close():
        stop.set()
        t.join()
        lsock.close()

    return lsock.getsockname()[1], close


def kafka_cases(tmp):
    for name in sorted(os.listdir(os.path.join(BAD, "kafka"))):
        with open(os.path.join(BAD, "kafka", name), "rb") as f:
            frame = f.read()
        port, close = kafka_server(tmp, frame)
        broker = "127.0.0.1:%d" % port
        try:
            # A broker that answers nonsense is a probe result (ERROR), not a crash.
            check("kafka-" + name,
                  [CTL, "probe", "--bootstrap", broker, "--ca-file",
                   os.path.join(tmp, "good.crt"), "--cert", os.path.join(tmp, "good.crt"),
                   "--key", os.path.join(tmp, "good.key"), "--server-name", "bad-input",
                   "--timeout", "3", "--format", "json"], broker, where="any")
        finally:
            close()


def main():
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    os.makedirs(ARTIFACTS)
    tmp = tempfile.mkdtemp(prefix="mskpki-badinput-")
    # Searchable: an agent started as root runs its network process as mskpki (agent.user).
    os.chmod(tmp, 0o711)
    try:
        cli_cases()
        config_cases()
        pem_cases(tmp)
        json_cases(tmp)
        kafka_cases(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAIL " + f)
    print("%d bad-input cases, %d failed" % (count, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
