#!/usr/bin/env python3
"""bench_agent.py: mskpki-agent footprint, idle wake-ups and rotation throughput.

  bench_agent.py --agent PATH --floor PATH --fsync-floor PATH
                 [--certs 10,1000] [--idle 60] [--rotate 1000] [--key-types ec-p256,rsa-2048]
                 [--repeat 3] [--repeat-rsa 1]

Rotation throughput: `mskpki-agent --once` on a fresh config of --rotate certificates from the
local CA (every one missing, so every one is issued and written durably), timed; next to it, in
the same run and the same file system, the durable-write floor: bench_fsync_floor writes as many
files as the agent left behind (temp file, write, fsync, rename each).  Ratio = agent / floor.

Footprint: the daemon is started on the store that --once filled for each count in --certs,
waits until its metrics say every certificate is loaded and ready, and the RssAnon (private,
anonymous memory) of its three processes (supervisor, key process, network process) is read,
each and summed, next to bench_floor's (the same libraries initialised, nothing else).  As the
children are forked, pages they still share copy-on-write count in each one's RssAnon; the sum
of their Pss_Anon counts every page once (pss_anon_kib, pss_ratio).  Then it idles --idle
seconds: the growth of mskpki_agent_wakeups_total (main loop wake-ups) and of the context
switches of all the threads of the three processes are printed.

Prints one "figure" line per measurement (key=value); never asserts.
"""
import argparse
import os
import re
import subprocess
import sys
import time
import json
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

CERT = """  {{ name = "c{i}"; key_type = "{kt}"; validity = "30d";
    subject = {{ common_name = "c{i}.example.com"; organization = "Bench"; }};
    san = {{ dns = [ "c{i}.example.com" ]; }};
    output = {{ directory = "{tmp}/out/c{i}"; key = "client.key"; cert = "client.crt";
               chain = "ca.crt"; fullchain = "fullchain.pem"; }}; }}"""


def write_config(tmp, n, kt, port):
    certs = ",\n".join(CERT.format(i=i, kt=kt, tmp=tmp) for i in range(n))
    conf = os.path.join(tmp, "mskpki.conf")
    with open(conf, "w") as f:
        f.write('ca = {{ backend = "local"; local = {{ directory = "{t}/ca"; }}; }};\n'
                'state_dir = "{t}/state";\nmetrics = {{ listen = "127.0.0.1:{p}"; }};\n'
                'log = {{ level = "warn"; }};\ncertificates = (\n{c}\n);\n'
                .format(t=tmp, p=port, c=certs))
    return conf


def new_env(n, kt):
    tmp = bl.tempdir("agent")
    os.mkdir(os.path.join(tmp, "out"), 0o755)
    port = bl.candidate_port()
    return tmp, port, write_config(tmp, n, kt, port)


def count_files(tmp):
    """Regular files the agent wrote durably: generation files and state files (not agent.lock,
    the writer lock, which is never synced)."""
    n = 0
    for sub in ("out", "state"):
        for root, _dirs, files in os.walk(os.path.join(tmp, sub)):
            n += sum(1 for f in files if os.path.isfile(os.path.join(root, f))
                     and not os.path.islink(os.path.join(root, f)) and f != "agent.lock")
    return n


def run_once(agent, conf):
    t, r = bl.timed(lambda: subprocess.run([agent, "--config", conf, "--once"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    if r.returncode != 0:
        bl.die("mskpki-agent --once failed: %s" % r.stderr.decode()[-500:])
    return t


def fsync_floor(tool, tmp, files, sub):
    d = os.path.join(tmp, sub)
    os.mkdir(d)
    out = subprocess.run([tool, d, str(files), "1024"], capture_output=True, text=True)
    if out.returncode != 0:
        bl.die("bench_fsync_floor failed: " + out.stderr)
    m = re.search(r"total_s=([0-9.]+) per_file_ms=([0-9.]+)", out.stdout)
    return float(m.group(1)), float(m.group(2))


def rotation(args, kt):
    ratios, agent_s, floor_s = [], [], []
    envs = []
    repeat = args.repeat if kt.startswith("ec") else args.repeat_rsa
    for _ in range(repeat):
        tmp, port, conf = new_env(args.rotate, kt)
        # The CA is created on first use: create it outside the timed run, with one certificate
        # ("cca") that is not counted.
        ca_conf = os.path.join(tmp, "ca.conf")
        with open(conf) as src, open(ca_conf, "w") as f:
            f.write(src.read().split("certificates = (")[0] +
                    "certificates = (\n" + CERT.format(i="ca", kt=kt, tmp=tmp) + "\n);\n")
        run_once(args.agent, ca_conf)
        # The disk is shared: the floor is measured right before and right after the agent and
        # averaged, so a change of load during the run weighs on both sides alike.
        ft0, _ = fsync_floor(args.fsync_floor, tmp, args.rotate * 5, "floor0")
        t = run_once(args.agent, conf)
        files = count_files(tmp) - count_files_of(tmp, "cca")
        ft1, _ = fsync_floor(args.fsync_floor, tmp, files, "floor1")
        ft = (ft0 * files / (args.rotate * 5) + ft1) / 2
        per = ft * 1000 / files
        agent_s.append(t)
        floor_s.append(ft)
        ratios.append(t / ft)
        print("figure=rotation key_type=%s certs=%d files=%d agent_s=%.3f floor_s=%.3f "
              "floor_per_file_ms=%.4f per_cert_ms=%.3f ratio=%.2f" %
              (kt, args.rotate, files, t, ft, per, t * 1000 / args.rotate, t / ft), flush=True)
        envs.append((tmp, port, conf))
    print("summary=rotation key_type=%s certs=%d ratio=%s agent_s=%s floor_s=%s" %
          (kt, args.rotate, bl.summary(ratios), bl.summary(agent_s), bl.summary(floor_s)),
          flush=True)
    return envs


def count_files_of(tmp, name):
    n = 0
    for root, _d, files in os.walk(os.path.join(tmp, "out", name)):
        n += sum(1 for f in files if not os.path.islink(os.path.join(root, f)))
    if os.path.exists(os.path.join(tmp, "state", name + ".json")):
        n += 1
    return n


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    vals = {}
    for line in text.splitlines():
        m = re.match(r"^(mskpki_agent_wakeups_total|mskpki_certificates_ready|"
                     r"mskpki_certificate_ready)(\{[^}]*\})? ([0-9.e+]+)$", line)
        if m:
            vals[m.group(1)] = vals.get(m.group(1), 0) + float(m.group(3))
    return vals, text


def all_ready(tmp, n):
    sd = os.path.join(tmp, "state")
    ready = 0
    for i in range(n):
        try:
            with open(os.path.join(sd, "c%d.json" % i)) as f:
                ready += 1 if json.load(f).get("ready") else 0
        except (OSError, ValueError):
            return False
    return ready == n


def floor_rss(tool):
    p = bl.spawn([tool], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("READY"):
        bl.die("bench_floor did not start")
    time.sleep(0.5)
    rss = bl.proc_status(p.pid, "RssAnon")
    bl.stop(p)
    return rss


def children(pid):
    """The direct children of pid (the agent's key and network processes), from /proc."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return sorted(kids)


def pss_anon(pid):
    """Pss_Anon of /proc/<pid>/smaps_rollup in KiB: anonymous pages still shared copy-on-write
    with the parent since fork() count half in each, so the processes' sum is not inflated."""
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss_Anon:"):
                return int(line.split()[1])
    return 0


def footprint(args, n, env):
    if env is None:
        tmp, port, conf = new_env(n, "ec-p256")
        run_once(args.agent, conf)
    else:
        tmp, port, conf = env
    log = os.path.join(tmp, "agent.log")
    for attempt in range(5):
        with open(log, "w") as f:
            p = bl.spawn([args.agent, "--config", conf], stdout=subprocess.DEVNULL, stderr=f)
        deadline = time.monotonic() + 120
        while p.poll() is None:
            try:
                scrape(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    bl.die("the agent did not start")
                time.sleep(0.1)
        if p.poll() is None:
            break
        with open(log) as f:
            text = f.read()
        if "cannot listen on" not in text or attempt == 4:
            bl.die("the agent did not start (exit %s): %s" % (p.poll(), text[-2000:]))
        # The candidate port was taken meanwhile: another one.
        old, port = port, bl.candidate_port()
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("127.0.0.1:%d" % old, "127.0.0.1:%d" % port))
    # The state files say ready once the daemon has loaded every certificate (a thousand take
    # a few seconds); then a second more to settle.
    deadline = time.monotonic() + 300
    while not all_ready(tmp, n):
        if p.poll() is not None or time.monotonic() > deadline:
            bl.die("not every certificate is ready")
        time.sleep(0.5)
    # The state files were already ready after --once: they do not say the daemon has loaded
    # every certificate (a thousand take seconds: each load writes its state file durably).  Its
    # own mskpki_certificate_ready gauges do, as each starts at 0 in a new process.
    while scrape(port)[0].get("mskpki_certificate_ready", 0) < n:
        if p.poll() is not None or time.monotonic() > deadline:
            bl.die("the daemon did not load every certificate")
        time.sleep(0.5)
    time.sleep(1.0)
    # The agent is three processes (docs/design.md): the supervisor (p.pid), the key process and
    # the network process, which holds the per-certificate state.  Its private memory is the
    # three together; each is printed too.
    pids = [p.pid] + children(p.pid)
    rss_each = [bl.proc_status(q, "RssAnon") for q in pids]
    rss = sum(rss_each)
    pss = sum(pss_anon(q) for q in pids)
    vm = bl.proc_status(p.pid, "VmRSS")
    floor = floor_rss(args.floor)
    w0, _ = scrape(port)
    c0 = sum(bl.ctx_switches(q) for q in pids)
    time.sleep(args.idle)
    c1 = sum(bl.ctx_switches(q) for q in pids)
    w1, _ = scrape(port)
    rss_end = sum(bl.proc_status(q, "RssAnon") for q in pids)
    bl.stop(p)
    wake = w1.get("mskpki_agent_wakeups_total", 0) - w0.get("mskpki_agent_wakeups_total", 0)
    print("figure=footprint certs=%d rss_anon_kib=%d processes=%d rss_anon_each_kib=%s "
          "pss_anon_kib=%d rss_anon_end_kib=%d vm_rss_kib=%d floor_rss_anon_kib=%d ratio=%.2f "
          "pss_ratio=%.2f idle_s=%g loop_wakeups=%d thread_ctx_switches=%d scrapes_in_window=0" %
          (n, rss, len(pids), "/".join(str(x) for x in rss_each), pss, rss_end, vm, floor,
           rss / floor, pss / floor, args.idle, wake, c1 - c0), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agent", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--fsync-floor", required=True)
    ap.add_argument("--certs", default="10,1000")
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--rotate", type=int, default=1000)
    ap.add_argument("--key-types", default="ec-p256,rsa-2048")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--repeat-rsa", type=int, default=1,
                    help="repeats for RSA key types (each 1,000-certificate run takes minutes)")
    args = ap.parse_args()
    print("machine " + bl.machine(), flush=True)
    envs = {}
    for kt in [k for k in args.key_types.split(",") if k]:
        e = rotation(args, kt)
        if kt == "ec-p256":
            envs = e
    for n in [int(x) for x in args.certs.split(",") if x]:
        env = envs[0] if envs and n == args.rotate else None
        footprint(args, n, env)


if __name__ == "__main__":
    main()
