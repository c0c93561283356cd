#!/usr/bin/env python3
"""bench_audit.py: wall time of `mskpkictl audit` against a slow AWS endpoint.

  bench_audit.py --mskpkictl PATH [--resources 1000] [--delay-ms 50] [--concurrency 8]
                 [--repeat 3] [--no-boto3]

Starts bench/fake_aws_bulk.py with --resources MSK clusters, Kinesis streams and Firehose
streams (each with its own KMS key) answering after --delay-ms, runs `mskpkictl audit
--format json` against it --repeat times, and prints per run the wall time, the number of calls
it made (counted by the fake), the lower bound calls x delay / concurrency and the ratio to it.
Then a reference client (bare keep-alive HTTP from as many Python threads) makes as many calls:
its ratio to the bound is what this fake on this machine allows at best.
Then, unless --no-boto3, the sequential boto3 peer (bench/boto3_audit.py) once, and the speed-up.
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = "us-east-1"


def count(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/__count" % port, timeout=10) as r:
        return json.load(r)["requests"]


# The checks the boto3 peer also performs; the Private CA checks (issue 11) are not in the
# comparison, and the bulk fake does not serve ACM PCA.
BASE_CHECKS = ("msk.encryption_at_rest_cmk,msk.kafka_version,msk.mtls_required,msk.tls_in_transit,"
               "kinesis.encryption_cmk,firehose.encryption_cmk,kms.key_rotation,kms.key_state,"
               "kms.key_policy_public")


def env():
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("AWS_"):
            del e[k]
    tmp = bl.tempdir("audit")
    e.update({"AWS_ACCESS_KEY_ID": "AKIDBENCH", "AWS_SECRET_ACCESS_KEY": "bench-secret",
              "AWS_REGION": REGION, "AWS_CONFIG_FILE": os.path.join(tmp, "none"),
              "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "none"),
              "AWS_EC2_METADATA_DISABLED": "true"})
    return e


def reference(port, calls, concurrency):
    """The same number of calls at the same concurrency from the simplest possible client (one
    kept-alive connection per thread, a fixed pre-built DescribeKey request, no signing, no
    parsing): what this fake on this machine can give at best.  Returns seconds."""
    auth = ("AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/%s/kms/aws4_request, "
            "SignedHeaders=host, Signature=0" % REGION)
    body = json.dumps({"KeyId": "arn:aws:kms:%s:111122223333:key/c00000-0000-0000-0000-"
                       "000000000000" % REGION})
    left = [calls]
    lock = threading.Lock()

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if left[0] == 0:
                    break
                left[0] -= 1
            c.request("POST", "/", body, {"X-Amz-Target": "TrentService.DescribeKey",
                                          "Authorization": auth,
                                          "Content-Type": "application/x-amz-json-1.1"})
            c.getresponse().read()
        c.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t, _ = bl.timed(lambda: ([th.start() for th in threads], [th.join() for th in threads]))
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mskpkictl", required=True)
    ap.add_argument("--resources", type=int, default=1000)
    ap.add_argument("--delay-ms", type=float, default=50)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-boto3", action="store_true")
    args = ap.parse_args()
    print("machine " + bl.machine(), flush=True)
    n = str(args.resources)
    fake = bl.spawn([sys.executable, os.path.join(HERE, "fake_aws_bulk.py"), "--clusters", n,
                     "--streams", n, "--firehoses", n, "--delay-ms", str(args.delay_ms),
                     "--region", REGION], stdout=subprocess.PIPE, text=True)
    line = fake.stdout.readline()
    if not line.startswith("PORT "):
        bl.die("fake_aws_bulk.py did not start")
    port = int(line.split()[1])
    url = "http://127.0.0.1:%d" % port
    e = env()
    walls, ratios = [], []
    for _ in range(args.repeat):
        c0 = count(port)
        t, r = bl.timed(lambda: subprocess.run(
            [args.mskpkictl, "audit", "--endpoint-url", url, "--region", REGION, "--format",
             "json", "--concurrency", str(args.concurrency), "--checks", BASE_CHECKS,
             # The checks are measured, not the CloudTrail KPI (paced to 2 calls/s by design).
             "--lookback-days", "0"], env=e,
            capture_output=True,
            text=True))
        calls = count(port) - c0
        if r.returncode not in (0, 1):
            bl.die("mskpkictl audit exited %d: %s" % (r.returncode, r.stderr[-500:]))
        findings = json.loads(r.stdout)["findings"]
        errors = sum(1 for f in findings if f["status"] == "ERROR")
        bound = calls * args.delay_ms / 1000.0 / args.concurrency
        walls.append(t)
        ratios.append(t / bound)
        print("figure=audit resources=%d delay_ms=%g concurrency=%d calls=%d findings=%d "
              "errors=%d wall_s=%.3f lower_bound_s=%.3f ratio_to_bound=%.3f" %
              (3 * args.resources, args.delay_ms, args.concurrency, calls, len(findings),
               errors, t, bound, t / bound), flush=True)
    print("summary=audit wall_s=%s ratio_to_bound=%s" % (bl.summary(walls), bl.summary(ratios)),
          flush=True)
    t = reference(port, calls, args.concurrency)
    med = sorted(walls)[len(walls) // 2]
    print("figure=audit_reference calls=%d concurrency=%d wall_s=%.3f ratio_to_bound=%.3f "
          "audit_ratio_to_reference=%.3f" % (calls, args.concurrency, t, t / bound, med / t),
          flush=True)
    if args.no_boto3:
        return
    c0 = count(port)
    t, r = bl.timed(lambda: subprocess.run(
        [sys.executable, os.path.join(HERE, "boto3_audit.py"), "--endpoint-url", url,
         "--region", REGION], env=e, capture_output=True, text=True))
    if r.returncode != 0:
        bl.die("boto3_audit.py failed: " + r.stderr[-800:])
    calls = count(port) - c0
    print("figure=audit_boto3 calls=%d wall_s=%.3f %s speedup=%.2f" %
          (calls, t, r.stdout.strip().replace("boto3_audit ", ""),
           t / sorted(walls)[len(walls) // 2]), flush=True)


if __name__ == "__main__":
    main()
