#!/usr/bin/env python3
"""test_profile_endpoint.py: which credentials and which endpoint mskpkictl uses (issue 17).

  test_profile_endpoint.py --mskpkictl PATH

* An explicit --profile wins over the environment's keys; a profile that does not exist is exit 3
  with one line naming it, never a run with other credentials (audit, probe, cert revoke).
* --endpoint-url receives the audited services' calls and --role-arn's AssumeRole; the STS calls
  of the credential chain itself (a profile's role_arn) go to AWS_ENDPOINT_URL_STS, else
  AWS_ENDPOINT_URL, as with the AWS CLI.
* --quiet and --verbose of audit.

Two tests/audit/fake_aws.py servers on free 127.0.0.1 ports record every request: one stands for
--endpoint-url, the other for the STS endpoint of the environment.  Ends with "N passed, N failed".
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
from mskpki_testlib import stop  # noqa: E402 - needs the path above

ROLE_OK = "arn:aws:iam::111122223333:role/mskpki-audit"
CA_ARN = ("arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/"
          "0f1e2d3c-0000-4000-8000-000000000001")
CLUSTER_ARN = "arn:aws:kafka:us-east-1:111122223333:cluster/c/0f1e2d3c-1"


class Fake:
    def __init__(self, tmp, name):
        self.log = os.path.join(tmp, name + ".jsonl")
        open(self.log, "w").close()
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_aws.py"),
                                      os.path.join(HERE, "recorded.json"), self.log],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"fake {name} did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def calls(self):
        with open(self.log, encoding="utf-8") as f:
            return [json.loads(x) for x in f if x.strip()]

    def clear(self):
        open(self.log, "w").close()

    def close(self):
        stop(self.proc)
        self.proc.stdout.close()


class T:
    passed = 0
    failed = 0

    @classmethod
    def check(cls, name, fn):
        try:
            fn()
            cls.passed += 1
            print(f"ok   {name}", flush=True)
        except Exception:  # noqa: BLE001 - report every failure and go on
            cls.failed += 1
            print(f"FAIL {name}", flush=True)
            traceback.print_exc(file=sys.stdout)


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mskpkictl", required=True)
    a = ap.parse_args()
    ctl = os.path.abspath(a.mskpkictl)
    tmp = tempfile.mkdtemp(prefix="mskpki-profile-")
    svc = sts = None
    try:
        svc = Fake(tmp, "services")
        sts = Fake(tmp, "sts")
        with open(os.path.join(tmp, "credentials"), "w") as f:
            f.write("[base]\naws_access_key_id = AKIDBASEPROFILE\n"
                    "aws_secret_access_key = base-secret-not-real\n")
        with open(os.path.join(tmp, "config"), "w") as f:
            f.write(f"[profile auditrole]\nrole_arn = {ROLE_OK}\nsource_profile = base\n"
                    "role_session_name = mskpki-audit\n")

        def env(**extra):
            e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            e.update(HOME=tmp, AWS_CONFIG_FILE=os.path.join(tmp, "config"),
                     AWS_SHARED_CREDENTIALS_FILE=os.path.join(tmp, "credentials"),
                     AWS_EC2_METADATA_DISABLED="true", AWS_REGION="us-east-1",
                     # The environment's keys: an explicit --profile must win over them.
                     AWS_ACCESS_KEY_ID="AKIDENVIRONMENT", AWS_SECRET_ACCESS_KEY="env-not-real")
            e.update(extra)
            return e

        def run(args, **extra):
            p = subprocess.run([ctl] + args, env=env(**extra), capture_output=True, text=True,
                               timeout=120)
            for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                expect(marker not in p.stderr, f"sanitizer report:\n{p.stderr[-3000:]}")
            return p

        audit = ["audit", "--endpoint-url", svc.url, "--region", "us-east-1", "--checks",
                 "msk.kafka_version", "--format", "json"]

        def nosuch_profile():
            cases = [
                audit + ["--profile", "nosuch"],
                ["probe", "--cluster-arn", CLUSTER_ARN, "--endpoint-url", svc.url, "--region",
                 "us-east-1", "--ca-file", "/nonexistent/ca.pem", "--profile", "nosuch"],
                ["cert", "revoke", "--ca-arn", CA_ARN, "--endpoint-url", svc.url, "--serial",
                 "0A", "--reason", "superseded", "--profile", "nosuch"],
            ]
            for args in cases:
                svc.clear()
                p = run(args)
                lines = p.stderr.strip().splitlines()
                expect(p.returncode == 3, f"{args[0]}: exit {p.returncode}, want 3: {p.stderr}")
                expect(len(lines) == 1 and "'nosuch'" in lines[0], f"{args[0]}: {p.stderr!r}")
                expect(p.stdout == "", f"{args[0]}: printed {p.stdout!r}")
                expect(svc.calls() == [], f"{args[0]}: calls were made: {svc.calls()}")
        T.check("--profile nosuch: exit 3 naming it, no fall-back to the environment's keys",
                nosuch_profile)

        def routed(label, **extra):
            svc.clear()
            sts.clear()
            p = run(audit + ["--profile", "auditrole", "--verbose"], **extra)
            expect(p.returncode in (0, 1), f"exit {p.returncode}: {p.stderr}")
            json.loads(p.stdout)
            got_sts = [c for c in sts.calls() if c["call"] == "sts POST /"]
            expect(len(got_sts) == 1 and got_sts[0]["params"].get("Action") == "AssumeRole"
                   and got_sts[0]["params"].get("RoleArn") == ROLE_OK,
                   f"{label}: the profile's AssumeRole did not reach STS: {sts.calls()}")
            expect(all(c["call"] == "sts POST /" for c in sts.calls()),
                   f"{label}: service calls reached STS: {sts.calls()}")
            svc_calls = [c["call"] for c in svc.calls()]
            expect("kafka GET /api/v2/clusters" in svc_calls and "sts POST /" not in svc_calls,
                   f"{label}: --endpoint-url got {svc_calls}")
            # --verbose: the debug lines name the endpoint of each call and the source.
            expect(f'call="sts AssumeRole" endpoint={sts.url}' in p.stderr, p.stderr)
            expect(f'call="kafka GET /api/v2/clusters" endpoint={svc.url}' in p.stderr, p.stderr)
            expect("source=assume-role" in p.stderr, p.stderr)
            expect("not-real" not in p.stderr + p.stdout, "a secret was printed")
        T.check("a profile's role_arn goes to AWS_ENDPOINT_URL_STS, the services to "
                "--endpoint-url", lambda: routed("STS", AWS_ENDPOINT_URL_STS=sts.url))
        T.check("...to AWS_ENDPOINT_URL when AWS_ENDPOINT_URL_STS is not set",
                lambda: routed("generic", AWS_ENDPOINT_URL=sts.url))

        def role_arn_option():
            svc.clear()
            sts.clear()
            p = run(audit + ["--profile", "base", "--role-arn", ROLE_OK],
                    AWS_ENDPOINT_URL_STS=sts.url)
            expect(p.returncode in (0, 1), f"exit {p.returncode}: {p.stderr}")
            assumed = [c for c in svc.calls() if c["call"] == "sts POST /"]
            expect(len(assumed) == 1 and assumed[0]["params"].get("RoleArn") == ROLE_OK,
                   f"--role-arn's AssumeRole did not go to --endpoint-url: {svc.calls()}")
            expect(sts.calls() == [], f"STS got {sts.calls()}")
            doc = json.loads(p.stdout)
            expect(all(f["account"] == "111122223333" for f in doc["findings"]), doc)
        T.check("--role-arn's AssumeRole goes to --endpoint-url", role_arn_option)

        def quiet_verbose():
            p = run(audit + ["--profile", "auditrole", "--quiet"], AWS_ENDPOINT_URL_STS=sts.url)
            expect(p.returncode in (0, 1) and p.stderr == "", f"quiet: {p.returncode} {p.stderr!r}")
            json.loads(p.stdout)
            p = run(audit + ["--quiet", "--verbose"])
            expect(p.returncode == 2 and "exclude each other" in p.stderr, p.stderr)
            # Without --verbose there are no debug lines.
            p = run(audit + ["--profile", "auditrole"], AWS_ENDPOINT_URL_STS=sts.url)
            expect("level=debug" not in p.stderr, p.stderr)
        T.check("audit --quiet: the report alone; with --verbose a usage error", quiet_verbose)
    except Exception:  # noqa: BLE001
        T.failed += 1
        traceback.print_exc(file=sys.stdout)
    finally:
        for f in (svc, sts):
            if f is not None:
                f.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{T.passed} passed, {T.failed} failed")
    return 0 if T.failed == 0 and T.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
