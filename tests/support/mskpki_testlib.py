"""mskpki_testlib: the helpers the python integration tests share (tests/agent, tests/audit).

Servers (moto, fakes, prometheus) bind 127.0.0.1 port 0 themselves and report the port they got:
in a file (port_file_server, moto_argv) or in their log (wait_log_port).  A port picked free,
released and then handed to a server could be taken by another test in between, so no test does
that.  wait_port() waits until a port accepts connections (or the process exits) and stop()
always ends the process.  Import it with sys.path.insert(0, <tests/support>) from the test script.
"""
import os
import re
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def moto_argv(port_file):
    """The command that runs moto on port 0 and writes its port to port_file."""
    return [sys.executable, os.path.join(HERE, "moto_server.py"), port_file]


def _wait(what, get, proc, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        v = get()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s: server exited with %s" % (what, proc.returncode))
        time.sleep(0.05)
    raise RuntimeError("%s: no port after %d s" % (what, seconds))


def wait_port_file(path, proc=None, seconds=60):
    """The port a server wrote (atomically) into path; RuntimeError when proc exits first."""
    def get():
        try:
            with open(path) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0
    return _wait(path, get, proc, seconds)


def wait_log_port(log_path, pattern, proc=None, seconds=60):
    """The port in the first match of pattern (group 1) in the log at log_path."""
    rx = re.compile(pattern)

    def get():
        try:
            with open(log_path, errors="replace") as f:
                m = rx.search(f.read())
        except OSError:
            return 0
        return int(m.group(1)) if m else 0
    return _wait(log_path, get, proc, seconds)


def wait_port(port, proc=None, seconds=30):
    """Waits until 127.0.0.1:port accepts a connection; RuntimeError when proc (if given) exits
    first or after seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def stop(proc):
    """SIGTERM, up to 10 s grace, then SIGKILL.  Safe on None and on an ended process."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
