"""mskpki_testlib: the helpers the python integration tests share (tests/agent, tests/audit).

Servers (moto, fakes) always bind 127.0.0.1 on a port from free_port(); wait_port() waits until
the port accepts connections (or the process exits) and stop() always ends the process.  Import
it with sys.path.insert(0, <tests/support>) from the test script.
"""
import socket
import subprocess
import time


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
