"""benchlib.py: helpers shared by the bench/ drivers (temp dirs, children, /proc readings).

Every child started here is killed at exit and every temp dir removed, like the test helpers.
Nothing listens beyond 127.0.0.1.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

# The child and temp-dir registry, its clean-up at exit and on signals, and candidate_port() are
# the agent tests' (tests/agent/agentlib.py); the benchmarks register into the same lists.  A
# candidate port may be taken before the agent binds it: the agent then exits saying "cannot
# listen on", and bench_agent.py starts it again on another.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "agent"))
from agentlib import _children, _dirs, candidate_port  # noqa: E402,F401


def die(msg):
    print("bench: error: " + msg, file=sys.stderr)
    sys.exit(1)


def tempdir(prefix):
    d = tempfile.mkdtemp(prefix="mskpki-bench-%s." % prefix)
    # Searchable: an agent started as root runs its network process as mskpki (agent.user),
    # which must reach the state directory beneath.
    os.chmod(d, 0o711)
    _dirs.append(d)
    return d


def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    _children.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def proc_status(pid, field):
    """A kB field of /proc/<pid>/status (e.g. RssAnon) as an int, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    die("no %s in /proc/%d/status" % (field, pid))


def ctx_switches(pid):
    """Voluntary + involuntary context switches summed over every thread of pid: each one is a
    time the thread stopped running, so the growth over an idle period counts its wake-ups."""
    total = 0
    tdir = "/proc/%d/task" % pid
    for tid in os.listdir(tdir):
        try:
            with open(os.path.join(tdir, tid, "status")) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def machine():
    """One line describing the machine: CPU model, cores, memory, kernel, load."""
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    load = os.getloadavg()
    return "cpu=%r cores=%d mem_mib=%d kernel=%s load1=%.2f" % (
        model, os.cpu_count(), mem, os.uname().release, load[0])


def summary(values):
    """'median (min..max, n=k)' of a list of floats."""
    if len(values) == 1:
        return "%.3f" % values[0]
    return "%.3f (min %.3f, max %.3f, n=%d)" % (statistics.median(values), min(values),
                                              max(values), len(values))


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return time.monotonic() - t0, r
