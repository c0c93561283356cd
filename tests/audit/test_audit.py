#!/usr/bin/env python3
"""test_audit.py: end-to-end tests of `mskpkictl audit`.

  test_audit.py --mskpkictl PATH --suite moto   moto server seeded by seed_moto.py
  test_audit.py --mskpkictl PATH --suite fake   recorded answers served by fake_aws.py

Each server binds a free 127.0.0.1 port and is stopped at the end; temporary files live in a
mkdtemp directory that is removed.  Every finding is asserted by check id + resource + status in
the json output, SARIF is validated against the committed SARIF 2.1.0 schema, JUnit is parsed with
xml.etree, and exit codes are checked for each case.  Ends with "N passed, N failed".
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
from mskpki_testlib import moto_argv, stop, wait_port, wait_port_file  # noqa: E402 - needs the path above

ALL_CHECKS = [
    "firehose.encryption_cmk", "kinesis.encryption_cmk", "kms.key_policy_public",
    "kms.key_rotation", "kms.key_state", "msk.acl_default_deny", "msk.encryption_at_rest_cmk",
    "msk.kafka_version", "msk.kafka_version_eos_soon", "msk.mtls_required", "msk.public_access",
    "msk.tls_in_transit", "pca.certificate_expiry",
    "pca.revocation_configured", "pca.status", "pca.usage_mode",
]
SEVERITY = {
    "firehose.encryption_cmk": "high", "kinesis.encryption_cmk": "high",
    "kms.key_policy_public": "high", "kms.key_rotation": "medium", "kms.key_state": "high",
    "msk.encryption_at_rest_cmk": "high", "msk.kafka_version": "high",
    "msk.mtls_required": "high", "msk.tls_in_transit": "medium",
    "msk.kafka_version_eos_soon": "medium", "msk.acl_default_deny": "high",
    "msk.public_access": "high",
    "pca.status": "high", "pca.certificate_expiry": "high", "pca.revocation_configured": "medium",
    "pca.usage_mode": "low", "tags.ownership": "low",
}
NEW_MSK = ("msk.kafka_version_eos_soon", "msk.acl_default_deny", "msk.public_access")
PCA_CHECKS = ("pca.status", "pca.certificate_expiry", "pca.revocation_configured",
              "pca.usage_mode")


class Ctx:
    def __init__(self, binary, tmp):
        self.binary = binary
        self.tmp = tmp
        self.endpoint = None
        self.passed = 0
        self.failed = 0

    def env(self, creds=True, region=None):
        """A clean environment: no inherited AWS settings, no profile files, no IMDS."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["HOME"] = self.tmp
        env["AWS_CONFIG_FILE"] = os.path.join(self.tmp, "no-config")
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(self.tmp, "no-credentials")
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        if creds:
            env["AWS_ACCESS_KEY_ID"] = "testing"
            env["AWS_SECRET_ACCESS_KEY"] = "testing"
        if region:
            env["AWS_REGION"] = region
        return env

    def run(self, *args, creds=True, region=None, endpoint=True):
        cmd = [self.binary, "audit"]
        if endpoint:
            cmd += ["--endpoint-url", self.endpoint]
        cmd += list(args)
        p = subprocess.run(cmd, env=self.env(creds, region), capture_output=True, text=True,
                           timeout=120)
        check_sanitizers(p)
        with open(os.path.join(self.tmp, "runs.log"), "a", encoding="utf-8") as f:
            f.write("%s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
        return p

    def check(self, name, fn):
        try:
            fn()
            self.passed += 1
            print(f"ok   {name}", flush=True)
        except Exception:  # noqa: BLE001 - report every failure and go on
            self.failed += 1
            print(f"FAIL {name}", flush=True)
            traceback.print_exc(file=sys.stdout)


def check_sanitizers(p):
    """Under ASan a leak exits 1, which an audit with findings also does: read stderr too."""
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        expect(marker not in p.stderr, f"sanitizer report:\n{p.stderr[-3000:]}")


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def findings(out):
    doc = json.loads(out)
    return doc, {(f["check"], f["region"], f["resource"]): f for f in doc["findings"]}


def assert_findings(got, expected):
    """expected: {(check, region, resource): (status, substring or None)}; exact set."""
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    expect(not missing, f"missing findings: {missing}")
    expect(not extra, f"unexpected findings: {[(k, got[k]['status']) for k in extra]}")
    for key, (status, needle) in expected.items():
        f = got[key]
        expect(f["status"] == status, f"{key}: {f['status']} ({f['message']}), want {status}")
        expect(f["severity"] == SEVERITY[key[0]], f"{key}: severity {f['severity']}")
        if needle is not None:
            expect(needle in f["message"], f"{key}: message {f['message']!r} lacks {needle!r}")
        for field in ("resource_type", "remediation", "message"):
            expect(isinstance(f[field], str) and f[field], f"{key}: empty {field}")


def assert_sorted(doc):
    keys = [(f["check"], f.get("account", ""), f["region"], f["resource"])
            for f in doc["findings"]]
    expect(keys == sorted(keys), "findings are not sorted by check, account, region, resource")


def assert_schema(doc):
    """The json output matches the schema documented in docs/audit.md."""
    with open(os.path.join(HERE, "report-schema.json"), encoding="utf-8") as f:
        jsonschema.validate(doc, json.load(f))


def assert_summary(doc):
    s = doc["summary"]
    for status in ("PASS", "FAIL", "ERROR", "NOT_APPLICABLE"):
        n = sum(1 for f in doc["findings"] if f["status"] == status)
        expect(s[status] == n, f"summary {status} {s[status]} != {n}")
    expect(s["total"] == len(doc["findings"]), "summary total")
    # KPIs: per check, the resources and the compliant share (PASS of PASS+FAIL+ERROR).
    for check, kpi in s["by_check"].items():
        mine = [f for f in doc["findings"] if f["check"] == check]
        expect(kpi["resources"] == len(mine), f"{check}: resources {kpi['resources']}")
        evaluated = [f for f in mine if f["status"] != "NOT_APPLICABLE"]
        passed = sum(1 for f in evaluated if f["status"] == "PASS")
        want = round(100.0 * passed / len(evaluated), 2) if evaluated else None
        expect(kpi["compliance_percent"] == want,
               f"{check}: compliance {kpi['compliance_percent']}, want {want}")


# "expires ... in N days" counts whole days from the moment of the run: two runs a second apart
# can straddle a day boundary of a CA created at seed time + N days.
DAYS_LEFT = re.compile(r"in -?\d+ days")


def same_days(a, b):
    """Two messages are the same but for the day counts."""
    return DAYS_LEFT.sub("in N days", a) == DAYS_LEFT.sub("in N days", b)


def same_report(a, b):
    """Two json reports are the same but for the day counts; prints a diff when they are not."""
    a, b = DAYS_LEFT.sub("in N days", a), DAYS_LEFT.sub("in N days", b)
    if a != b:
        import difflib
        print("\n".join(list(difflib.unified_diff(a.splitlines(), b.splitlines(), "first",
                                                  "second", lineterm="", n=1))[:40]))
    return a == b


def validate_sarif(ctx, text, doc):
    with open(os.path.join(HERE, "sarif-schema-2.1.0.json"), encoding="utf-8") as f:
        schema = json.load(f)
    sarif = json.loads(text)
    # The schema's run.language pattern uses an inline flag Python's re rejects, so the schema
    # itself is not re-checked (we emit no "language"); instances are validated in full.
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(sarif), key=lambda e: list(e.path))
    expect(not errors, f"SARIF invalid: {[e.message for e in errors[:5]]}")
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    expect([r["id"] for r in rules] == ALL_CHECKS, "one SARIF rule per check, in id order")
    bad = [f for f in doc["findings"] if f["status"] in ("FAIL", "ERROR")]
    expect(len(run["results"]) == len(bad), "one SARIF result per FAIL/ERROR finding")
    levels = {"high": "error", "medium": "warning", "low": "note"}
    for res, f in zip(run["results"], bad):
        expect(res["ruleId"] == f["check"], "result order follows the findings")
        expect(res["level"] == levels[f["severity"]], f"level for {f['check']}")
        expect(rules[res["ruleIndex"]]["id"] == res["ruleId"], "ruleIndex points at the rule")
        loc = res["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
        expect(loc == f["resource"], "result location is the resource")
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        expect(":" not in uri and not uri.startswith("/"), f"relative artifact uri {uri}")
        expect(len(res["partialFingerprints"]["mskpkiFinding/v1"]) == 64, "fingerprint")
    # A deliberately broken copy must fail validation: the check can fail.
    broken = json.loads(text)
    broken["runs"][0]["results"].append({"ruleId": "x", "level": "fatal", "message": {"text": "m"}})
    expect(list(validator.iter_errors(broken)), "schema validation accepts an invalid level")


def validate_junit(text, doc):
    root = ET.fromstring(text)
    expect(root.tag == "testsuites", "root is testsuites")
    by = {s: sum(1 for f in doc["findings"] if f["status"] == s)
          for s in ("FAIL", "ERROR", "NOT_APPLICABLE")}
    expect(int(root.get("tests")) == len(doc["findings"]), "testsuites tests")
    expect(int(root.get("failures")) == by["FAIL"], "testsuites failures")
    expect(int(root.get("errors")) == by["ERROR"], "testsuites errors")
    expect(int(root.get("skipped")) == by["NOT_APPLICABLE"], "testsuites skipped")
    suites = root.findall("testsuite")
    expect([s.get("name") for s in suites] == ALL_CHECKS, "a testsuite per check")
    for s in suites:
        mine = [f for f in doc["findings"] if f["check"] == s.get("name")]
        cases = s.findall("testcase")
        expect(len(cases) == len(mine) == int(s.get("tests")), f"{s.get('name')}: testcases")
        for case, f in zip(cases, mine):
            expect(case.get("name").startswith(f["resource"]), "testcase names the resource")
            tag = {"FAIL": "failure", "ERROR": "error", "NOT_APPLICABLE": "skipped"}.get(
                f["status"])
            if tag:
                el = case.find(tag)
                expect(el is not None, f"{f['check']} {f['resource']}: no <{tag}>")
                expect(same_days(el.get("message"), f["message"]), "junit message")
            else:
                expect(case.find("failure") is None and case.find("error") is None, "PASS case")


def common_output_tests(ctx, args, label):
    """Formats, ordering, --output and exit codes shared by both suites."""
    state = {}

    def json_run():
        p = ctx.run(*args, "--format", "json")
        expect(p.returncode == 1, f"exit {p.returncode}, want 1 (FAIL/ERROR present): {p.stderr}")
        state["json"] = p.stdout
        doc, _ = findings(p.stdout)
        assert_sorted(doc)
        assert_summary(doc)
        assert_schema(doc)
        state["doc"] = doc
    ctx.check(f"{label}: json output sorted, summary, documented schema", json_run)

    def concurrency():
        a = ctx.run(*args, "--format", "json", "--concurrency", "1")
        b = ctx.run(*args, "--format", "json", "--concurrency", "8")
        expect(a.returncode == b.returncode == 1, "exit codes")
        expect(same_report(a.stdout, b.stdout), "json differs between --concurrency 1 and 8")
        expect(same_report(a.stdout, state["json"]), "json differs from the default run")
    ctx.check(f"{label}: identical json across --concurrency 1 and 8", concurrency)

    def sarif():
        p = ctx.run(*args, "--format", "sarif")
        expect(p.returncode == 1, f"exit {p.returncode}")
        validate_sarif(ctx, p.stdout, state["doc"])
    ctx.check(f"{label}: sarif validates against SARIF 2.1.0 schema", sarif)

    def junit():
        p = ctx.run(*args, "--format", "junit")
        expect(p.returncode == 1, f"exit {p.returncode}")
        validate_junit(p.stdout, state["doc"])
    ctx.check(f"{label}: junit parses and matches the findings", junit)

    def table():
        p = ctx.run(*args)
        expect(p.returncode == 1, f"exit {p.returncode}")
        s = state["doc"]["summary"]
        line = (f"{s['total']} findings: {s['PASS']} PASS, {s['FAIL']} FAIL, {s['ERROR']} ERROR, "
                f"{s['NOT_APPLICABLE']} NOT_APPLICABLE")
        expect(line in p.stdout, f"table lacks summary line {line!r}")
        expect("\033[" not in p.stdout, "colour written to a pipe")
    ctx.check(f"{label}: table for people, no colour on a pipe", table)

    def output_file():
        d = tempfile.mkdtemp(dir=ctx.tmp)
        path = os.path.join(d, "report.json")
        p = ctx.run(*args, "--format", "json", "--output", path)
        expect(p.returncode == 1, f"exit {p.returncode}")
        expect(p.stdout == "", "--output still wrote to stdout")
        with open(path, encoding="utf-8") as f:
            got = f.read()
        expect(same_report(got, state["json"]), "--output content differs from stdout json")
        expect(os.listdir(d) == ["report.json"], f"temporary files left: {os.listdir(d)}")
        missing = os.path.join(d, "nope", "report.json")
        p = ctx.run(*args, "--format", "json", "--output", missing)
        expect(p.returncode == 3, f"unwritable --output: exit {p.returncode}, want 3")
        expect("nope" in p.stderr, f"error does not name the path: {p.stderr}")
        expect(not os.path.exists(os.path.dirname(missing)), "partial output created")
        expect(os.listdir(d) == ["report.json"], f"files left after failure: {os.listdir(d)}")
    ctx.check(f"{label}: --output writes atomically, nothing on failure", output_file)


def usage_tests(ctx):
    cases = [
        (["--bogus"], "--bogus"),
        (["--checks", "msk.kafka_version,msk.bogus"], "msk.bogus"),
        (["--format", "yaml"], "yaml"),
        (["--fail-on", "critical"], "critical"),
        (["--concurrency", "0"], "--concurrency"),
        (["--min-kafka-version", "latest"], "latest"),
    ]
    for args, needle in cases:
        def one(args=args, needle=needle):
            p = ctx.run(*args, "--region", "us-east-1")
            expect(p.returncode == 2, f"{args}: exit {p.returncode}, want 2")
            lines = p.stderr.strip().splitlines()
            expect(len(lines) == 1 and needle in lines[0], f"{args}: stderr {p.stderr!r}")
            expect(p.stdout == "", "usage error printed a report")
        ctx.check(f"usage error exits 2 naming it: {' '.join(args)}", one)

    def help_ok():
        p = ctx.run("--help", endpoint=False)
        expect(p.returncode == 0 and "msk.mtls_required" in p.stdout, "help lists the checks")
    ctx.check("--help exits 0 and lists the checks", help_ok)

    def no_region():
        p = ctx.run()
        expect(p.returncode == 3, f"no region: exit {p.returncode}, want 3 ({p.stderr})")
        expect("region" in p.stderr.lower(), f"stderr does not say region: {p.stderr!r}")
    ctx.check("no region: exit 3", no_region)

    def no_creds():
        p = ctx.run("--region", "us-east-1", creds=False)
        expect(p.returncode == 3, f"no credentials: exit {p.returncode}, want 3 ({p.stderr})")
        expect(p.stdout == "", "a report was printed without credentials")
    ctx.check("no credentials: exit 3", no_creds)

    def region_from_env():
        p = ctx.run("--format", "json", "--checks", "msk.kafka_version", region="us-east-1")
        expect(p.returncode in (0, 1), f"AWS_REGION: exit {p.returncode} ({p.stderr})")
        doc = json.loads(p.stdout)
        expect(all(f["region"] == "us-east-1" for f in doc["findings"]), "region from env")
    ctx.check("region from AWS_REGION when no --region", region_from_env)


# ---- moto ----

def moto_expected(seed):
    k, c, s, d = seed["keys"], seed["clusters"], seed["streams"], seed["deliveries"]
    us = "us-east-1"
    e = {}

    def add(check, res, status, needle=None, region=us):
        e[(check, region, res)] = (status, needle)

    add("msk.encryption_at_rest_cmk", c["good"], "PASS", k["good"])
    # 3.5.1 and 2.8.2.tiered are past their end of support (2025-10-23, 2025-01-14): FAIL on
    # any run date from now on; moto has no ListKafkaVersions (the message says so on PASS).
    add("msk.kafka_version", c["good"], "FAIL", "past its end of support on 2025-10-23")
    add("msk.mtls_required", c["good"], "PASS", "arn:aws:acm-pca")
    add("msk.tls_in_transit", c["good"], "PASS")
    add("msk.encryption_at_rest_cmk", c["bad"], "FAIL", "dataVolumeKMSKeyId")
    add("msk.kafka_version", c["bad"], "FAIL", "2.2.1 is below the minimum 2.5.1")
    add("msk.mtls_required", c["bad"], "FAIL", "not enabled")
    add("msk.tls_in_transit", c["bad"], "FAIL", "TLS_PLAINTEXT")
    add("msk.encryption_at_rest_cmk", c["tiered"], "PASS", k["disabled"])
    add("msk.kafka_version", c["tiered"], "FAIL", "2.8.2.tiered (line 2.8) is past its end")
    for name in ("good", "bad", "tiered"):
        add("msk.kafka_version_eos_soon", c[name], "NOT_APPLICABLE", "already past")
        add("msk.public_access", c[name], "PASS")
    # moto clusters have no configuration: TLS client authentication on MSK's defaults.
    add("msk.acl_default_deny", c["good"], "FAIL", "default configuration")
    add("msk.acl_default_deny", c["tiered"], "FAIL", "default configuration")
    add("msk.acl_default_deny", c["bad"], "NOT_APPLICABLE", "no TLS or SASL/SCRAM")
    add("msk.mtls_required", c["tiered"], "FAIL", "unauthenticated access is enabled")
    add("msk.tls_in_transit", c["tiered"], "PASS")
    for check in ("msk.encryption_at_rest_cmk", "msk.kafka_version", "msk.mtls_required",
                  "msk.tls_in_transit") + NEW_MSK:
        add(check, c["serverless"], "NOT_APPLICABLE", "serverless")
    add("kinesis.encryption_cmk", s["s-plain"], "FAIL", "NONE")
    add("kinesis.encryption_cmk", s["s-awsalias"], "FAIL", "alias/aws/kinesis")
    add("kinesis.encryption_cmk", s["s-norot"], "PASS", k["norot"])
    add("kinesis.encryption_cmk", s["s-public"], "PASS", k["public"])
    add("kinesis.encryption_cmk", s["s-pending"], "PASS", k["pending"])
    add("kinesis.encryption_cmk", s["s-eu"], "FAIL", "NONE", region="eu-west-1")
    add("firehose.encryption_cmk", d["f-none"], "FAIL", "not configured")
    add("firehose.encryption_cmk", d["f-cmk"], "PASS", k["good"])
    add("firehose.encryption_cmk", d["f-owned"], "FAIL", "AWS_OWNED_CMK")
    add("firehose.encryption_cmk", d["f-fromkinesis"], "NOT_APPLICABLE", "KinesisStreamAsSource")
    add("kinesis.encryption_cmk", s["s-xregion"], "PASS", k["eu"])
    for check in ("kms.key_rotation", "kms.key_state", "kms.key_policy_public"):
        add(check, k["eu"], "PASS", region="eu-west-1")
    kms = {
        "good": ("PASS", "PASS", "PASS"),
        "disabled": ("PASS", "FAIL", "PASS"),
        "norot": ("FAIL", "PASS", "PASS"),
        "public": ("PASS", "PASS", "FAIL"),
        "pending": ("PASS", "FAIL", "PASS"),
    }
    for name, (rot, state, pol) in kms.items():
        add("kms.key_rotation", k[name], rot)
        add("kms.key_state", k[name], state,
            {"disabled": "Disabled", "pending": "PendingDeletion"}.get(name))
        add("kms.key_policy_public", k[name], pol, "OpenToEveryone" if name == "public" else None)
    # Private CAs: moto creates every CA in SHORT_LIVED_CERTIFICATE mode (no revocation needed).
    ca = seed["cas"]
    for name in ("active", "expiring", "disabled"):
        add("pca.revocation_configured", ca[name], "NOT_APPLICABLE", "short-lived")
        add("pca.usage_mode", ca[name], "PASS", "SHORT_LIVED_CERTIFICATE")
    add("pca.status", ca["active"], "PASS", "ACTIVE")
    add("pca.certificate_expiry", ca["active"], "PASS", "days")
    add("pca.status", ca["expiring"], "PASS", "ACTIVE")
    add("pca.certificate_expiry", ca["expiring"], "FAIL", "within the minimum of 90 days")
    add("pca.status", ca["disabled"], "FAIL", "DISABLED")  # from --ca-arn
    add("pca.certificate_expiry", ca["disabled"], "PASS", "days")
    add("pca.status", ca["missing"], "FAIL", "does not exist")
    for check in ("pca.certificate_expiry", "pca.revocation_configured", "pca.usage_mode"):
        add(check, ca["missing"], "NOT_APPLICABLE", "does not exist")
    return e


def moto_suite(ctx):
    log = open(os.path.join(ctx.tmp, "moto.log"), "w")
    port_file = os.path.join(ctx.tmp, "moto.port")
    proc = subprocess.Popen(moto_argv(port_file), stdout=log, stderr=subprocess.STDOUT,
                            env=ctx.env())
    try:
        port = wait_port_file(port_file, proc)
        wait_port(port, proc)
        ctx.endpoint = f"http://127.0.0.1:{port}"
        os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
        sys.path.insert(0, HERE)
        import seed_moto  # noqa: E402 - needs the path above
        seed = seed_moto.seed(ctx.endpoint)
        regions = ["--region", "us-east-1", "--region", "eu-west-1",
                   "--ca-arn", seed["cas"]["disabled"]]

        def all_findings():
            p = ctx.run(*regions, "--format", "json")
            expect(p.returncode == 1, f"exit {p.returncode}: {p.stderr}")
            _, got = findings(p.stdout)
            assert_findings(got, moto_expected(seed))
        ctx.check("moto: every finding by check + resource + status", all_findings)

        common_output_tests(ctx, regions, "moto")

        def fail_on():
            base = regions + ["--format", "json", "--checks", "kms.key_rotation"]
            p = ctx.run(*base, "--fail-on", "high")
            expect(p.returncode == 0, f"medium FAIL with --fail-on high: exit {p.returncode}")
            doc = json.loads(p.stdout)
            expect(doc["summary"]["FAIL"] == 1, "the medium FAIL is still reported")
            p = ctx.run(*base, "--fail-on", "medium")
            expect(p.returncode == 1, f"--fail-on medium: exit {p.returncode}")
            p = ctx.run(*base)
            expect(p.returncode == 1, f"default --fail-on low: exit {p.returncode}")
        ctx.check("moto: --fail-on threshold decides the exit code", fail_on)

        def checks_filter():
            p = ctx.run(*regions, "--format", "json", "--checks",
                        "msk.kafka_version,kinesis.encryption_cmk")
            doc = json.loads(p.stdout)
            got = {f["check"] for f in doc["findings"]}
            expect(got == {"msk.kafka_version", "kinesis.encryption_cmk"}, f"checks {got}")
        ctx.check("moto: --checks limits the findings", checks_filter)

        def min_version():
            # --as-of a date when 2.8 and 3.5 were still supported: only the floor decides.
            p = ctx.run(*regions, "--format", "json", "--checks", "msk.kafka_version",
                        "--min-kafka-version", "3.5.1", "--as-of", "2025-01-01")
            _, got = findings(p.stdout)
            c = seed["clusters"]
            expect(got[("msk.kafka_version", "us-east-1", c["tiered"])]["status"] == "FAIL",
                   "2.8.2.tiered < 3.5.1")
            expect(got[("msk.kafka_version", "us-east-1", c["good"])]["status"] == "PASS",
                   "3.5.1 >= 3.5.1")
        ctx.check("moto: --min-kafka-version compares numerically", min_version)

        def cross_region_key():
            p = ctx.run("--region", "us-east-1", "--format", "json", "--checks",
                        "kms.key_state")
            _, got = findings(p.stdout)
            key = seed["keys"]["eu"]
            expect(got.get(("kms.key_state", "eu-west-1", key), {}).get("status") == "PASS",
                   "a key ARN in another region is resolved there")
        ctx.check("moto: key in another region resolved in its own region", cross_region_key)

        def profile():
            creds = os.path.join(ctx.tmp, "credentials")
            with open(creds, "w", encoding="utf-8") as f:
                f.write("[audit]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
            env = ctx.env(creds=False)
            env["AWS_SHARED_CREDENTIALS_FILE"] = creds
            base = [ctx.binary, "audit", "--endpoint-url", ctx.endpoint, "--region", "us-east-1",
                    "--format", "json", "--checks", "msk.kafka_version"]
            p = subprocess.run(base + ["--profile", "audit"], env=env, capture_output=True,
                               text=True, timeout=120)
            check_sanitizers(p)
            expect(p.returncode == 1 and json.loads(p.stdout)["summary"]["total"] == 4,
                   f"--profile audit: exit {p.returncode} {p.stderr}")
            p = subprocess.run(base + ["--profile", "missing"], env=env, capture_output=True,
                               text=True, timeout=120)
            check_sanitizers(p)
            expect(p.returncode == 3, f"--profile missing: exit {p.returncode}, want 3")
        ctx.check("moto: --profile picks credentials; an unknown profile exits 3", profile)

        def all_pass_exit0():
            p = ctx.run(*regions, "--format", "json", "--checks", "msk.tls_in_transit",
                        "--fail-on", "high")
            expect(p.returncode == 0, f"only a medium FAIL and --fail-on high: {p.returncode}")
        ctx.check("moto: exit 0 when nothing at or above --fail-on", all_pass_exit0)

        governance_moto_tests(ctx, seed)
        usage_tests(ctx)
    finally:
        stop(proc)
        log.close()


def governance_moto_tests(ctx, seed):
    us = "us-east-1"
    regions = ["--region", us, "--region", "eu-west-1"]

    def tags():
        p = ctx.run(*regions, "--format", "json", "--checks", "tags.ownership",
                    "--required-tags", "Owner,CostCenter")
        expect(p.returncode == 1, f"exit {p.returncode}: {p.stderr}")
        doc, got = findings(p.stdout)
        assert_schema(doc)
        c, s, d, k = seed["clusters"], seed["streams"], seed["deliveries"], seed["keys"]
        want_pass = {("tags.ownership", us, c["good"]), ("tags.ownership", us, s["s-norot"]),
                     ("tags.ownership", us, d["f-cmk"]), ("tags.ownership", us, k["good"])}
        for key in want_pass:
            expect(got[key]["status"] == "PASS", f"{key}: {got[key]}")
        expect("CostCenter" in got[("tags.ownership", us, c["tiered"])]["message"] and
               "Owner" not in got[("tags.ownership", us, c["tiered"])]["message"],
               "tiered lacks only CostCenter")
        expect("Owner, CostCenter" in got[("tags.ownership", us, s["s-plain"])]["message"],
               "tag keys are case-sensitive")
        # 4 clusters, 7 streams, 4 delivery streams, 6 customer-managed keys in use.
        expect(len(got) == 21, f"{len(got)} tags findings")
        expect(sum(1 for f in got.values() if f["status"] == "FAIL") == 17, "FAIL count")
        expect(all(f["severity"] == "low" for f in got.values()), "severity low")
        types = {f["resource_type"] for f in got.values()}
        expect(types == {"AWS::MSK::Cluster", "AWS::Kinesis::Stream",
                         "AWS::KinesisFirehose::DeliveryStream", "AWS::KMS::Key"}, f"{types}")
        by = doc["summary"]["by_check"]
        expect(list(by) == ["tags.ownership"], f"by_check {by}")
        expect(by["tags.ownership"]["compliance_percent"] == round(100 * 4 / 21, 2), f"{by}")
        p = ctx.run(*regions, "--format", "json")
        expect(all(f["check"] != "tags.ownership" for f in json.loads(p.stdout)["findings"]),
               "tags.ownership ran without --required-tags")
    ctx.check("moto: tags.ownership with --required-tags, off without", tags)

    def ca_min_days():
        ca = seed["cas"]
        # The default --cert-validity-days 30 fails a CA with 30 days left (a little less by
        # now): the certificates it issues would outlive it.
        p = ctx.run("--region", us, "--format", "json", "--checks", "pca.certificate_expiry",
                    "--ca-min-days", "7")
        _, got = findings(p.stdout)
        f = got[("pca.certificate_expiry", us, ca["expiring"])]
        expect(f["status"] == "FAIL" and "30-day certificates" in f["message"], f"{f}")
        p = ctx.run("--region", us, "--format", "json", "--checks", "pca.certificate_expiry",
                    "--ca-min-days", "7", "--cert-validity-days", "7")
        _, got = findings(p.stdout)
        expect(got[("pca.certificate_expiry", us, ca["expiring"])]["status"] == "PASS",
               "30 days left passes --ca-min-days 7 --cert-validity-days 7")
        p = ctx.run("--region", us, "--format", "json", "--checks", "pca.certificate_expiry",
                    "--ca-min-days", "7", "--cert-validity-days", "60")
        _, got = findings(p.stdout)
        f = got[("pca.certificate_expiry", us, ca["expiring"])]
        expect(f["status"] == "FAIL" and "60-day certificates" in f["message"], f"{f}")
    ctx.check("moto: --ca-min-days and --cert-validity-days decide pca.certificate_expiry",
              ca_min_days)

    def prometheus():
        d = tempfile.mkdtemp(dir=ctx.tmp)
        path = os.path.join(d, "mskpki_audit.prom")
        before = int(time.time())
        p = ctx.run(*regions, "--format", "prometheus", "--output", path)
        expect(p.returncode == 1, f"exit {p.returncode}: {p.stderr}")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                              text=True, timeout=60)
        expect(lint.returncode == 0, f"promtool: {lint.stdout} {lint.stderr}")
        doc = json.loads(ctx.run(*regions, "--format", "json").stdout)
        samples = {}
        for line in text.splitlines():
            if not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = value
        for check in ALL_CHECKS:
            kpi = doc["summary"]["by_check"][check]
            for status in ("PASS", "FAIL", "ERROR", "NOT_APPLICABLE"):
                key = f'mskpki_audit_resources{{check="{check}",status="{status}"}}'
                expect(int(samples[key]) == kpi[status], f"{key} = {samples.get(key)}")
            ratio = samples[f'mskpki_audit_compliance_ratio{{check="{check}"}}']
            want = kpi["compliance_percent"]
            expect((ratio == "NaN") if want is None else abs(float(ratio) * 100 - want) < 0.01,
                   f"{check}: ratio {ratio} vs {want}")
        ts = int(samples["mskpki_audit_last_run_timestamp_seconds"])
        expect(before <= ts <= int(time.time()) + 1, f"timestamp {ts}")
    ctx.check("moto: --format prometheus passes promtool and matches the json KPIs", prometheus)

    def accounts():
        own = "arn:aws:iam::123456789012:role/mskpki-audit"
        p = ctx.run("--region", us, "--format", "json", "--checks", "msk.kafka_version",
                    "--role-arn", own, "--role-arn", seed_other_role(), "--as-of", "2026-01-01")
        expect(p.returncode == 1, f"exit {p.returncode}: {p.stderr}")
        doc = json.loads(p.stdout)
        assert_schema(doc)
        assert_sorted(doc)
        got = {(f["account"], f["resource"]): f["status"] for f in doc["findings"]}
        c = seed["clusters"]
        expect(got.get(("210987654321", c["other"])) == "PASS", f"other account: {got}")
        expect(sum(1 for a, _ in got if a == "123456789012") == 4, f"own account: {got}")
        expect(len(got) == 5, f"findings: {got}")
    ctx.check("moto: --role-arn audits each account, the account id on every finding", accounts)


def seed_other_role():
    sys.path.insert(0, HERE)
    import seed_moto  # noqa: E402
    return seed_moto.OTHER_ROLE


# ---- fake ----

def fake_expected(keys):
    e = {}
    acct = "111122223333"
    us, eu = "us-east-1", "eu-west-1"
    aws_c = (f"arn:aws:kafka:{us}:{acct}:cluster/fk-aws-managed/"
             "11111111-aaaa-4bbb-8ccc-000000000001-1")
    den_c = (f"arn:aws:kafka:{us}:{acct}:cluster/fk-denied-key/"
             "22222222-aaaa-4bbb-8ccc-000000000002-1")
    sl_c = (f"arn:aws:kafka:{us}:{acct}:cluster/fk-serverless/"
            "33333333-aaaa-4bbb-8ccc-000000000003-s1")

    def add(check, res, status, needle=None, region=us):
        e[(check, region, res)] = (status, needle)

    add("msk.encryption_at_rest_cmk", aws_c, "FAIL", "AWS-managed")
    add("msk.kafka_version", aws_c, "FAIL", "past its end of support on 2026-06-01")
    add("msk.mtls_required", aws_c, "PASS", keys["ca"])
    add("msk.tls_in_transit", aws_c, "PASS")
    add("msk.encryption_at_rest_cmk", den_c, "ERROR", "AccessDeniedException")
    add("msk.kafka_version", den_c, "FAIL", "2025-01-14: AWS may upgrade the cluster at any time without notice; upgrade to 3.9.x; ListKafkaVersions reports it as DEPRECATED")
    for res in (aws_c, den_c):
        add("msk.kafka_version_eos_soon", res, "NOT_APPLICABLE", "already past")
    add("msk.acl_default_deny", aws_c, "PASS", "revision 3 sets allow.everyone.if.no.acl.found=false")
    add("msk.acl_default_deny", den_c, "ERROR", "kafka:DescribeConfigurationRevision")
    add("msk.public_access", aws_c, "FAIL", "authentication left on: TLS")
    add("msk.public_access", den_c, "PASS")
    add("msk.mtls_required", den_c, "FAIL", "unauthenticated access is enabled")
    add("msk.tls_in_transit", den_c, "FAIL", "TLS_PLAINTEXT")
    for check in ("msk.encryption_at_rest_cmk", "msk.kafka_version", "msk.mtls_required",
                  "msk.tls_in_transit") + NEW_MSK:
        add(check, sl_c, "NOT_APPLICABLE", "serverless")
        add(check, "*", "ERROR", "ForbiddenException", region=eu)
    for check in ("kms.key_rotation", "kms.key_state", "kms.key_policy_public"):
        add(check, keys["denied"], "ERROR", "AccessDeniedException")
        add(check, "fs-b", "ERROR", "AccessDeniedException")
        add(check, "*", "ERROR", "ForbiddenException", region=eu)
    add("kms.key_rotation", keys["cmk"], "PASS")
    add("kms.key_state", keys["cmk"], "PASS")
    add("kms.key_policy_public", keys["cmk"], "FAIL", "AllowEveryone")
    add("kinesis.encryption_cmk", f"arn:aws:kinesis:{us}:{acct}:stream/fs-a", "FAIL", "AWS-managed")
    add("kinesis.encryption_cmk", "fs-b", "ERROR", "AccessDeniedException")
    add("kinesis.encryption_cmk", f"arn:aws:kinesis:{us}:{acct}:stream/fs-c", "FAIL",
        "alias/aws/kinesis")
    add("firehose.encryption_cmk", f"arn:aws:firehose:{us}:{acct}:deliverystream/fh-a", "PASS",
        keys["cmk"])
    # Throttled past the client's retries: ERROR with the code, never PASS.
    add("firehose.encryption_cmk", f"arn:aws:firehose:{us}:{acct}:deliverystream/fh-c", "PASS",
        keys["throttled"])
    add("kms.key_rotation", keys["throttled"], "ERROR", "ThrottlingException")
    add("kms.key_state", keys["throttled"], "PASS")
    add("kms.key_policy_public", keys["throttled"], "PASS")
    add("firehose.encryption_cmk", f"arn:aws:firehose:{us}:{acct}:deliverystream/fh-b",
        "NOT_APPLICABLE", "MSKAsSource")
    # The recorded CA: ACTIVE, its own certificate good until 2045 but the root in its chain
    # expired in 2021; GENERAL_PURPOSE without CRL or OCSP.
    add("pca.status", keys["ca"], "PASS", "ACTIVE")
    add("pca.certificate_expiry", keys["ca"], "FAIL", "Recorded Root CA")
    add("pca.revocation_configured", keys["ca"], "FAIL", "neither CRL nor OCSP")
    add("pca.usage_mode", keys["ca"], "PASS", "GENERAL_PURPOSE")
    add("pca.status", keys["ca_gone"], "FAIL", "ResourceNotFoundException")
    for check in PCA_CHECKS:
        add(check, "*", "ERROR", "ForbiddenException", region=eu)
        if check != "pca.status":
            add(check, keys["ca_gone"], "NOT_APPLICABLE", "does not exist")
    return e


def read_log(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def iam_policy_covers_calls(ctx):
    """Every AWS call in ctl/audit/aws.c is allowed by packaging/iam/audit-policy.json."""
    def run():
        root = os.path.dirname(os.path.dirname(HERE))
        with open(os.path.join(root, "ctl", "audit", "aws.c"), encoding="utf-8") as f:
            src = f.read()
        prefixes = {"TrentService": "kms", "Kinesis_20131202": "kinesis",
                    "Firehose_20150804": "firehose", "ACMPrivateCA": "acm-pca",
                    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101": "cloudtrail"}
        needed = {f"{prefixes[m.group(1)]}:{m.group(2)}"
                  for m in re.finditer(r'"(%s)\.([A-Za-z]+)"' % "|".join(map(re.escape, prefixes)),
                                       src)}
        expect("cloudtrail:LookupEvents" in needed, f"LookupEvents not found: {sorted(needed)}")
        rest = {"/api/v2/clusters": "kafka:ListClustersV2", "/v1/tags/": "kafka:ListTagsForResource",
                "/v1/kafka-versions": "kafka:ListKafkaVersions",
                "/v1/configurations/": "kafka:DescribeConfigurationRevision"}
        needed |= {action for path, action in rest.items() if f'"{path}' in src}
        if "role_arn" in src:
            needed.add("sts:AssumeRole")
        expect(len(needed) >= 17, f"call scan found too little: {sorted(needed)}")
        with open(os.path.join(root, "packaging", "iam", "audit-policy.json"),
                  encoding="utf-8") as f:
            policy = json.load(f)
        allowed = set()
        for st in policy["Statement"]:
            acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            allowed |= set(acts)
        missing = sorted(needed - allowed)
        expect(not missing, f"audit-policy.json lacks {missing}")
    ctx.check("IAM read-only policy covers every call the audit makes", run)


def fake_suite(ctx):
    recorded = os.path.join(HERE, "recorded.json")
    with open(recorded, encoding="utf-8") as f:
        keys = json.load(f)["keys"]
    log_path = os.path.join(ctx.tmp, "requests.jsonl")
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_aws.py"), recorded,
                             log_path], stdout=subprocess.PIPE, text=True)
    iam_policy_covers_calls(ctx)
    try:
        line = proc.stdout.readline()
        expect(line.startswith("PORT "), f"fake did not start: {line!r}")
        ctx.endpoint = f"http://127.0.0.1:{int(line.split()[1])}"
        regions = ["--region", "us-east-1", "--region", "eu-west-1", "--ca-arn", keys["ca_gone"]]

        def all_findings():
            open(log_path, "w").close()
            p = ctx.run(*regions, "--format", "json")
            expect(p.returncode == 1, f"exit {p.returncode}: {p.stderr}")
            _, got = findings(p.stdout)
            assert_findings(got, fake_expected(keys))
        ctx.check("fake: every finding by check + resource + status", all_findings)

        def pagination():
            reqs = read_log(log_path)
            unrecorded = [r for r in reqs if r["call"] not in
                          {a["call"] for a in json.load(open(recorded))["answers"]}]
            expect(not unrecorded, f"calls without a recorded answer: {unrecorded}")
            msk = [r["params"] for r in reqs
                   if r["call"] == "kafka GET /api/v2/clusters" and r["region"] == "us-east-1"]
            expect(len(msk) == 2 and msk[1].get("nextToken") == "page-2-token",
                   f"ListClustersV2 pages: {msk}")
            ks = [r["params"] for r in reqs
                  if r["call"] == "Kinesis_20131202.ListStreams" and r["region"] == "us-east-1"]
            expect(len(ks) == 3, f"ListStreams pages: {ks}")
            expect(ks[1].get("ExclusiveStartStreamName") == "fs-a" and "NextToken" not in ks[1],
                   f"exclusive-start page: {ks[1]}")
            expect(ks[2].get("NextToken") == "tok-3" and "ExclusiveStartStreamName" not in ks[2],
                   f"NextToken page: {ks[2]}")
            fh = [r["params"] for r in reqs
                  if r["call"] == "Firehose_20150804.ListDeliveryStreams"
                  and r["region"] == "us-east-1"]
            expect(len(fh) == 2 and fh[1].get("ExclusiveStartDeliveryStreamName") == "fh-a",
                   f"ListDeliveryStreams pages: {fh}")
            # The AWS-managed key gets no rotation/policy calls; the customer key exactly one each.
            rot = [r["params"]["KeyId"] for r in reqs
                   if r["call"] == "TrentService.GetKeyRotationStatus"]
            expect(rot.count(keys["cmk"]) == 1, f"GetKeyRotationStatus calls: {rot}")
            expect(keys["aws_managed"] not in rot, "rotation asked of an AWS-managed key")
            expect(rot.count(keys["throttled"]) > 1, f"throttling was not retried: {rot}")
        ctx.check("fake: pagination tokens followed, no unrecorded calls", pagination)

        def kafka_versions_paged():
            reqs = read_log(log_path)
            kv = [r["params"] for r in reqs if r["call"] == "kafka GET /v1/kafka-versions"]
            expect(len(kv) == 2 and kv[1].get("nextToken") == "kv-page-2",
                   f"ListKafkaVersions pages: {kv}")
            cfg = [r for r in reqs if r["call"].startswith("kafka GET /v1/configurations/")]
            expect(len(cfg) == 2, f"DescribeConfigurationRevision calls: {cfg}")
        ctx.check("fake: ListKafkaVersions paged, one DescribeConfigurationRevision per cluster",
                  kafka_versions_paged)

        def as_of():
            acct, us = "111122223333", "us-east-1"
            aws_c = (f"arn:aws:kafka:{us}:{acct}:cluster/fk-aws-managed/"
                     "11111111-aaaa-4bbb-8ccc-000000000001-1")
            den_c = (f"arn:aws:kafka:{us}:{acct}:cluster/fk-denied-key/"
                     "22222222-aaaa-4bbb-8ccc-000000000002-1")
            args = ["--region", us, "--format", "json", "--checks",
                    "msk.kafka_version,msk.kafka_version_eos_soon"]
            p = ctx.run(*args, "--as-of", "2026-04-01")
            _, got = findings(p.stdout)
            st = {k: (v["status"], v["message"]) for k, v in got.items()}
            expect(st[("msk.kafka_version", us, aws_c)][0] == "PASS", f"3.6.0 in April: {st}")
            soon = st[("msk.kafka_version_eos_soon", us, aws_c)]
            expect(soon[0] == "FAIL" and "2026-06-01, in 61 days" in soon[1], f"soon: {soon}")
            expect(st[("msk.kafka_version", us, den_c)][0] == "FAIL", "2.8 ended in 2025")
            # The same date gives the same report whenever it runs; --eos-warning-days moves it.
            again = ctx.run(*args, "--as-of", "2026-04-01")
            expect(again.stdout == p.stdout, "--as-of report is not reproducible")
            p = ctx.run(*args, "--as-of", "2026-04-01", "--eos-warning-days", "30")
            _, got = findings(p.stdout)
            expect(got[("msk.kafka_version_eos_soon", us, aws_c)]["status"] == "PASS",
                   "--eos-warning-days 30")
            p = ctx.run(*args, "--as-of", "2026-02-30")
            expect(p.returncode == 2 and "--as-of" in p.stderr, f"bad date: {p.stderr}")
            # CA expiry follows the same date: the recorded root ended 2021-01-01.
            ca_args = ["--region", us, "--format", "json", "--ca-arn", keys["ca"], "--checks",
                       "pca.certificate_expiry"]
            exp = {}
            for when in (None, "2015-01-01", "2020-12-15"):
                p = ctx.run(*ca_args, *(["--as-of", when] if when else []))
                doc, got = findings(p.stdout)
                expect(doc["scope"].get("as_of") == when, f"scope as_of: {doc['scope']}")
                exp[when] = (got[("pca.certificate_expiry", us, keys["ca"])]["status"],
                             got[("pca.certificate_expiry", us, keys["ca"])]["message"])
            expect(exp[None][0] == "FAIL" and "expired on 2021-01-01" in exp[None][1], exp)
            expect(exp["2015-01-01"][0] == "PASS" and "in 2192 days" in exp["2015-01-01"][1], exp)
            expect(exp["2020-12-15"][0] == "FAIL" and "in 17 days" in exp["2020-12-15"][1], exp)
        ctx.check("fake: --as-of judges version support at another date", as_of)

        def usability():
            acct, us = "111122223333", "us-east-1"
            aws_c = (f"arn:aws:kafka:{us}:{acct}:cluster/fk-aws-managed/"
                     "11111111-aaaa-4bbb-8ccc-000000000001-1")
            den_c = (f"arn:aws:kafka:{us}:{acct}:cluster/fk-denied-key/"
                     "22222222-aaaa-4bbb-8ccc-000000000002-1")
            p = ctx.run(*regions, "--format", "json")
            doc, got = findings(p.stdout)
            sc = doc["scope"]
            expect(sc["accounts"] == [acct], f"scope accounts {sc}")
            expect(sorted(sc["regions"]) == ["eu-west-1", "us-east-1"], f"scope regions {sc}")
            expect(len(sc["checks"]) == len(ALL_CHECKS), f"scope checks {sc}")
            expect(sc["resources"]["msk_clusters"] == 3 and sc["resources"]["kinesis_streams"] == 3
                   and sc["resources"]["firehose_streams"] == 3
                   and sc["resources"]["private_cas"] == 2, f"scope resources {sc}")
            pub = got[("msk.public_access", us, aws_c)]
            expect(pub["remediation_cli"] == (
                f"aws kafka update-connectivity --region {us} --cluster-arn {aws_c} "
                "--current-version <CURRENT_VERSION> --connectivity-info "
                "'PublicAccess={Type=DISABLED}'"), f"remediation_cli {pub['remediation_cli']}")
            expect(got[("msk.public_access", us, den_c)]["remediation_cli"] is None,
                   "a PASS has no command")
            err = got[("msk.acl_default_deny", us, den_c)]
            expect("Allow kafka:DescribeConfigurationRevision" in err["remediation"]
                   and "server.properties" not in err["remediation"],
                   f"ERROR remediation: {err['remediation']}")
            lst = got[("msk.kafka_version", "eu-west-1", "*")]
            expect("kafka:ListClustersV2" in lst["remediation"], lst["remediation"])
            # The table: scope first, then only FAIL and ERROR with their fixes.
            t = ctx.run(*regions, "--status", "FAIL,ERROR").stdout
            expect(t.startswith("Scope\n") and t.index("regions:") < t.index("STATUS  "),
                   f"scope not first:\n{t[:400]}")
            head = t[:t.index("STATUS  ")]
            expect(f"accounts:  {acct}\n" in head and "eu-west-1" in head
                   and f"checks:    {len(ALL_CHECKS)} (" in head
                   and re.search(r"resources: msk_clusters 3, kinesis_streams 3, "
                                 r"firehose_streams 3, kms_keys \d+, private_cas 2", head),
                   f"scope header:\n{head}")
            rows = [ln for ln in t.splitlines() if re.match(r"^(PASS|FAIL|ERROR|NOT_APPLICABLE) ", ln)]
            expect(rows and all(r.split()[0] in ("FAIL", "ERROR") for r in rows),
                   f"--status rows: {rows[:5]}")
            expect(len(rows) == sum(1 for f in doc["findings"] if f["status"] in ("FAIL", "ERROR")),
                   "every FAIL and ERROR shown")
            expect(f"$ aws kafka update-connectivity --region {us} --cluster-arn {aws_c}" in t,
                   "the table shows the command")
            expect("fix: Permission: DescribeConfigurationRevision was denied" in t, "ERROR fix")
            p = ctx.run(*regions, "--status", "FAILED")
            expect(p.returncode == 2 and "--status" in p.stderr, f"bad status: {p.stderr}")
        ctx.check("fake: scope, --status, remediation commands and ERROR fixes", usability)

        def progress():
            import pty
            for quiet in (False, True):
                master, slave = pty.openpty()
                cmd = [ctx.binary, "audit", "--endpoint-url", ctx.endpoint, "--region",
                       "us-east-1", "--format", "json"] + (["--quiet"] if quiet else [])
                p = subprocess.run(cmd, env=ctx.env(), stdout=subprocess.PIPE, stderr=slave,
                                   text=True, timeout=120)
                os.close(slave)
                chunks = []
                while True:
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        break
                    if not data:
                        break
                    chunks.append(data)
                os.close(master)
                err = b"".join(chunks).decode(errors="replace")
                json.loads(p.stdout)  # progress never mixes into the report
                if quiet:
                    expect("mskpkictl audit:" not in err, f"--quiet wrote progress {err!r}")
                else:
                    expect("msk 3/3" in err and "kinesis 3/3" in err and "firehose 3/3" in err,
                           f"progress: {err!r}")
            # Not a terminal (a pipe): silent without --quiet.
            p = ctx.run("--region", "us-east-1", "--format", "json")
            expect("mskpkictl audit: msk" not in p.stderr, f"progress on a pipe: {p.stderr!r}")
        ctx.check("fake: progress on a terminal's stderr, silent with --quiet or a pipe", progress)

        def history():
            db = os.path.join(ctx.tmp, "history.db")
            us = "us-east-1"
            aws_c = ("arn:aws:kafka:us-east-1:111122223333:cluster/fk-aws-managed/"
                     "11111111-aaaa-4bbb-8ccc-000000000001-1")
            p1 = ctx.run(*regions, "--format", "json", "--history", db)
            d1, g1 = findings(p1.stdout)
            assert_schema(d1)
            pub = g1[("msk.public_access", us, aws_c)]
            expect(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", pub["first_seen"] or ""),
                   f"first_seen {pub.get('first_seen')}")
            expect(all(("first_seen" in f) == (f["status"] == "FAIL") for f in d1["findings"]),
                   "first_seen on every FAIL only")
            time.sleep(1.1)
            # Two audits at once on the same file: both finish, neither sees "locked".
            procs = [subprocess.Popen([ctx.binary, "audit", "--endpoint-url", ctx.endpoint,
                                       *regions, "--format", fmt, "--history", db],
                                      env=ctx.env(), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
                     for fmt in ("sarif", "prometheus")]
            outs = [pr.communicate(timeout=120) for pr in procs]
            for pr, (out, err) in zip(procs, outs):
                expect(pr.returncode == 1 and "locked" not in err, f"overlap: {pr.returncode} {err}")
            sarif = json.loads(outs[0][0])
            props = [r["properties"] for r in sarif["runs"][0]["results"]
                     if r["properties"]["status"] == "FAIL"]
            expect(props and all(pp["first_seen"] == g1[(r["ruleId"], r["properties"]["region"],
                                                        r["locations"][0]["logicalLocations"][0]
                                                        ["fullyQualifiedName"])]["first_seen"]
                                 for pp, r in zip(props, [r for r in sarif["runs"][0]["results"]
                                                          if r["properties"]["status"] == "FAIL"])),
                   "SARIF first_seen is the first run's")
            prom = outs[1][0]
            lint = subprocess.run(["promtool", "check", "metrics"], input=prom,
                                  capture_output=True, text=True)
            expect(lint.returncode == 0, f"promtool: {lint.stdout} {lint.stderr}")
            m = re.search(r'^mskpki_audit_open_fail\{check="msk.public_access"\} (\d+)$', prom, re.M)
            expect(m and m.group(1) == "1", "open FAIL count of msk.public_access")
            age = re.search(r'^mskpki_audit_oldest_open_fail_age_seconds\{check="msk.public_access"\}'
                            r' (\d+)$', prom, re.M)
            expect(age and int(age.group(1)) >= 1, "the oldest open FAIL has aged")
            expect('mskpki_audit_mttr_seconds{check="msk.public_access"} NaN' in prom, "no MTTR yet")
            # The sqlite3 CLI reads it: three runs, one open public_access episode.
            cli = subprocess.run(["sqlite3", db, "SELECT COUNT(*) FROM runs; SELECT COUNT(*) FROM "
                                  "episodes WHERE check_id = 'msk.public_access' AND resolved IS "
                                  "NULL;"], capture_output=True, text=True)
            expect(cli.stdout.split() == ["3", "1"], f"sqlite3: {cli.stdout} {cli.stderr}")
            expect(oct(os.stat(db).st_mode & 0o777) == "0o600", "history file is owner-only")
            p = ctx.run(*regions, "--history", "/nonexistent-dir/h.db")
            expect(p.returncode == 3 and "/nonexistent-dir/h.db" in p.stderr, p.stderr)
        ctx.check("fake: --history: first_seen, overlapping runs, prometheus KPIs, sqlite3", history)

        def kpis():
            open(log_path, "w").close()
            p = ctx.run(*regions, "--format", "json", "--as-of", "2026-01-01")
            doc = json.loads(p.stdout)
            assert_schema(doc)
            den = {k["key"]: k for k in doc["kpis"]["kms_access_denied"]}
            cmk = den[keys["cmk"]]
            expect(cmk["access_denied"] == 3 and cmk["events"] == 4 and cmk["lookback_days"] == 7
                   and not cmk["truncated"] and cmk["account"] == "111122223333", f"cmk: {cmk}")
            expect(cmk["principals"] == {
                "arn:aws:sts::111122223333:assumed-role/app-producer/i-0abc": 2,
                "arn:aws:sts::444455556666:assumed-role/partner/s1": 1}, f"principals: {cmk}")
            thr = den[keys["throttled"]]
            expect(thr["access_denied"] is None and "AccessDeniedException" in thr["error"], thr)
            expect(set(den) == {keys["cmk"], keys["throttled"]}, f"keys: {sorted(den)}")
            old = doc["kpis"]["oldest_kafka_version"]
            expect(old == [{"account": "111122223333", "region": "us-east-1",
                            "version": "2.8.2.tiered", "end_of_support": "2025-01-14",
                            "days_until_eos": -352}], f"oldest: {old}")
            # LookupEvents by key ARN over the window, paced to 2 per second in a region.
            reqs = [r for r in read_log(log_path) if r["call"].endswith(".LookupEvents")]
            expect(len(reqs) == 3, f"LookupEvents calls: {reqs}")
            p0 = reqs[0]["params"]
            expect(p0["EndTime"] - p0["StartTime"] == 7 * 86400, f"window: {p0}")
            ts = sorted(r["t"] for r in reqs)
            expect(all(b - a >= 0.45 for a, b in zip(ts, ts[1:])), f"not paced: {ts}")
            p = ctx.run(*regions, "--format", "prometheus", "--lookback-days", "30")
            lint = subprocess.run(["promtool", "check", "metrics"], input=p.stdout,
                                  capture_output=True, text=True)
            expect(lint.returncode == 0, f"promtool: {lint.stdout} {lint.stderr}")
            expect(f'mskpki_audit_kms_access_denied_events{{account="111122223333",'
                   f'region="us-east-1",key="{keys["cmk"]}"}} 3' in p.stdout, "denied metric")
            expect('mskpki_audit_oldest_kafka_version_eos_seconds{account="111122223333",'
                   'region="us-east-1",version="2.8.2.tiered"} -' in p.stdout, "oldest metric")
            open(log_path, "w").close()
            ctx.run(*regions, "--format", "json", "--lookback-days", "0")
            expect(not [r for r in read_log(log_path) if r["call"].endswith(".LookupEvents")],
                   "--lookback-days 0 still looked up")
            p = ctx.run(*regions, "--lookback-days", "91")
            expect(p.returncode == 2 and "--lookback-days" in p.stderr, p.stderr)
        ctx.check("fake: KPIs: CloudTrail AccessDenied per key, oldest Kafka version", kpis)

        common_output_tests(ctx, regions, "fake")

        def selected_only():
            open(log_path, "w").close()
            p = ctx.run(*regions, "--format", "json", "--checks", "msk.kafka_version")
            calls = {r["call"] for r in read_log(log_path)}
            # ListKafkaVersions only where a cluster was listed (us-east-1): DEPRECATED status.
            expect(calls == {"kafka GET /api/v2/clusters", "kafka GET /v1/kafka-versions"},
                   f"calls for one MSK check: {calls}")
            doc = json.loads(p.stdout)
            expect(p.returncode == 1, "the eu-west-1 ERROR still fails the run")
            expect({f["status"] for f in doc["findings"]} == {"FAIL", "NOT_APPLICABLE", "ERROR"},
                   "statuses for msk.kafka_version")
        ctx.check("fake: only the calls the selected checks need", selected_only)

        def error_never_pass():
            p = ctx.run("--region", "eu-west-1", "--format", "json", "--fail-on", "high")
            expect(p.returncode == 1, f"ERROR must fail the run whatever --fail-on: {p.returncode}")
            doc = json.loads(p.stdout)
            expect(doc["summary"]["PASS"] == 0 and doc["summary"]["ERROR"] == 14,
                   f"denied listing: {doc['summary']}")
        ctx.check("fake: a denied listing is ERROR with the code, exit 1", error_never_pass)

        def accounts():
            open(log_path, "w").close()
            p = ctx.run("--region", "us-east-1", "--format", "json", "--checks",
                        "msk.kafka_version", "--role-arn", keys["role_ok"], "--role-arn",
                        keys["role_denied"], "--as-of", "2026-01-01")
            expect(p.returncode == 1, f"exit {p.returncode}, want 1: {p.stderr}")
            doc = json.loads(p.stdout)
            assert_schema(doc)
            assert_sorted(doc)
            assert_summary(doc)
            by_acct = {}
            for f in doc["findings"]:
                by_acct.setdefault(f["account"], []).append(f)
            expect(sorted(by_acct) == ["111122223333", "999988887777"], f"accounts {by_acct}")
            ok = by_acct["111122223333"]
            # 3.6.0 is supported on 2026-01-01; 2.8.2.tiered is not (and DEPRECATED).
            expect(sorted(f["status"] for f in ok) == ["FAIL", "NOT_APPLICABLE", "PASS"],
                   f"reachable account: {ok}")
            bad = by_acct["999988887777"]
            expect(len(bad) == 1 and bad[0]["status"] == "ERROR", f"unreachable account: {bad}")
            expect(bad[0]["resource"] == keys["role_denied"], "the ERROR names the role")
            expect(bad[0]["resource_type"] == "AWS::IAM::Role", "resource type of the role")
            expect("AccessDenied" in bad[0]["message"], bad[0]["message"])
            expect("recorded-secret" not in p.stdout + p.stderr, "a secret was printed")
            calls = [r for r in read_log(log_path) if r["call"] == "sts POST /"]
            expect(sorted(r["params"]["RoleArn"] for r in calls) ==
                   sorted([keys["role_ok"], keys["role_denied"]]), f"AssumeRole calls: {calls}")
            expect(all(r["params"].get("RoleSessionName") == "mskpki-audit" for r in calls),
                   "session name")
        ctx.check("fake: an unreachable account is an ERROR finding, the others are audited",
                  accounts)
    finally:
        stop(proc)
        proc.stdout.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mskpkictl", required=True)
    ap.add_argument("--suite", choices=["moto", "fake"], required=True)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="mskpki-audit-")
    ctx = Ctx(os.path.abspath(a.mskpkictl), tmp)
    try:
        if a.suite == "moto":
            moto_suite(ctx)
        else:
            fake_suite(ctx)
    except Exception:  # noqa: BLE001
        ctx.failed += 1
        traceback.print_exc(file=sys.stdout)
    finally:
        # Reports and logs are kept for the secrets scan (tests/badinput/test_secrets.py).
        if os.environ.get("MSKPKI_ARTIFACTS_DIR"):
            shutil.copytree(tmp, os.path.join(os.environ["MSKPKI_ARTIFACTS_DIR"], "audit",
                                              a.suite + "-" + os.path.basename(tmp)),
                            symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{ctx.passed} passed, {ctx.failed} failed")
    return 0 if ctx.failed == 0 and ctx.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
