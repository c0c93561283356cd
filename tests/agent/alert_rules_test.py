#!/usr/bin/env python3
"""promtool tests of the renewal-plan alerts in docs/alerts.rules.yml (issue 17, item 4).

Usage: alert_rules_test.py PROMTOOL RULES

For certificates of 90 s, 1 d, 7 d, 30 d and 1 y it builds a `promtool test rules` file and runs
it.  Each case is an agent stuck on one certificate, seen at a moment of its life: fresh, just
before the planned renewal, renewal due, past the retry grace, in the last tenth (or the last
retry interval), expired.  The gauges are the ones the agent exports (pki/renewal.h computes
them); their values are recomputed here from the rule in the docs, as a second reading of it:
  planned  = not_before + 2/3 of the lifetime
  expiring = not_after - max(lifetime / 10, retry.min)
  overdue  = min(planned + retry.max, expiring)
Expected: MskpkiCertificateRenewalOverdue from overdue on, MskpkiCertificateExpiresSoon from
expiring until not_after, nothing before overdue (a fresh short-lived certificate fires
nothing: the fixed "7 days" used to fire for ever on every certificate of 7 days or less).
promtool's clock starts at the Unix epoch and the gauges must stay positive (the rules skip the
zeros of a certificate not yet there), so each moment is evaluated at the first multiple of the
sampling interval past its age, with notBefore set just so that the age is exact; the interval
grows with the lifetime (1m .. 6h), so a year-long life takes some thousand samples, not 500000.
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

PROMTOOL, RULES = sys.argv[1], os.path.abspath(sys.argv[2])
LABELS = {"name": "client", "ca": "local", "instance": "host1:9464", "job": "mskpki-agent"}
ALERTS = ("MskpkiCertificateRenewalOverdue", "MskpkiCertificateExpiresSoon")

# (label, lifetime s, retry.min, retry.max, sampling interval s): the defaults (30 s, 1 h) except
# for the 90-second certificate, whose deployment retries within its life (5 s, 30 s).
LIFETIMES = [("90s", 90, 5, 30, 60), ("1d", 86400, 30, 3600, 60),
             ("7d", 7 * 86400, 30, 3600, 600), ("30d", 30 * 86400, 30, 3600, 3600),
             ("1y", 365 * 86400, 30, 3600, 6 * 3600)]


def plan(life, rmin, rmax):
    planned = life * 2 // 3
    expiring = life - max(life // 10, rmin)
    overdue = min(planned + rmax, expiring)
    return planned, overdue, expiring


def rules_by_name():
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}


def annotations(rule):
    """The rule's annotations as Prometheus renders them for LABELS (only $labels are used)."""
    out = {}
    for k, v in rule.get("annotations", {}).items():
        out[k] = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: LABELS[m.group(1)], v)
        if "{{" in out[k]:
            sys.exit("FAIL: %s annotation %s uses a template this test does not render: %s"
                     % (rule["alert"], k, v))
    return out


def series(name, value, n):
    lab = ",".join('%s="%s"' % kv for kv in LABELS.items())
    return {"series": "%s{%s}" % (name, lab), "values": "%d+0x%d" % (value, n)}


def case(life, rmin, rmax, interval, x, firing, rules):
    """The agent's gauges when the certificate is x seconds old: constant series sampled every
    interval, evaluated at AT, the first sample instant after x (so notBefore = AT - x > 0)."""
    at = (x // interval + 1) * interval
    nb = at - x
    planned, overdue, expiring = plan(life, rmin, rmax)
    g = {"not_before": nb, "not_after": nb + life, "renewal_planned": nb + planned,
         "renewal_overdue": nb + overdue, "expiring": nb + expiring}
    names = {"not_before": "mskpki_certificate_not_before_timestamp_seconds",
             "not_after": "mskpki_certificate_not_after_timestamp_seconds",
             "renewal_planned": "mskpki_certificate_renewal_planned_timestamp_seconds",
             "renewal_overdue": "mskpki_certificate_renewal_overdue_timestamp_seconds",
             "expiring": "mskpki_certificate_expiring_timestamp_seconds"}
    tests = []
    for alert in ALERTS:
        exp = []
        if alert in firing:
            labels = dict(LABELS)
            labels.update(rules[alert].get("labels", {}))
            exp.append({"exp_labels": labels, "exp_annotations": annotations(rules[alert])})
        tests.append({"eval_time": "%ds" % at, "alertname": alert, "exp_alerts": exp})
    n = at // interval + 2
    return {"interval": "%ds" % interval,
            "input_series": [series(names[k], v, n) for k, v in g.items()],
            "alert_rule_test": tests}


def moments(life, rmin, rmax):
    """(what, age in seconds, alerts firing) along one stuck certificate's life."""
    planned, overdue, expiring = plan(life, rmin, rmax)
    out = [("fresh", min(60, life // 10), set())]
    if planned > 1:
        out.append(("before the planned renewal", planned - 1, set()))
    if overdue > planned:
        out.append(("renewal due", planned + (overdue - planned) // 2, set()))
    if expiring > overdue:
        out.append(("renewal overdue", overdue + (expiring - overdue) // 2,
                    {"MskpkiCertificateRenewalOverdue"}))
    out.append(("expiring", expiring + (life - expiring) // 2, set(ALERTS)))
    out.append(("expired", life + 1, {"MskpkiCertificateRenewalOverdue"}))
    return out


def main():
    rules = rules_by_name()
    for a in ALERTS:
        if a not in rules:
            sys.exit("FAIL: %s not in %s" % (a, RULES))
    count = 0
    for label, life, rmin, rmax, interval in LIFETIMES:
        tests = []
        for what, x, firing in moments(life, rmin, rmax):
            tests.append(case(life, rmin, rmax, interval, x, firing, rules))
            print("%-4s %-27s age %9ds: %s" % (label, what, x, sorted(firing) or "none"))
        # One file per lifetime: the rules are evaluated every sampling interval.
        doc = {"rule_files": [RULES], "evaluation_interval": "%ds" % interval, "tests": tests}
        with tempfile.NamedTemporaryFile("w", suffix=".test.yml", delete=False) as f:
            yaml.safe_dump(doc, f, sort_keys=False)
            path = f.name
        try:
            r = subprocess.run([PROMTOOL, "test", "rules", path], capture_output=True, text=True)
        finally:
            os.unlink(path)
        if r.returncode != 0:
            sys.exit("FAIL: promtool test rules, %s certificate:\n%s%s"
                     % (label, r.stdout, r.stderr))
        count += len(tests)
    print("PASS: alert_rules_timing (%d moments)" % count)


main()
