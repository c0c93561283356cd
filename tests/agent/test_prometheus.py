#!/usr/bin/env python3
"""A real Prometheus server (Debian's prometheus package) on loopback scrapes the agent and
evaluates the alert rules shipped in docs/alerts.rules.yml.

promtool only lints text; this proves what a fleet's Prometheus sees: the target is up with no
scrape error, every metric family issue 4 names is ingested under its exact name and type (the
histogram as a histogram, so histogram_quantile works), and the alert rules both load and match
the agent's real series: during a CA outage MskpkiCertificateNotReady and MskpkiRotationFailing
become active for the certificate, they clear once the CA is back, and MskpkiCertificateExpiresSoon
then matches the (1 h) certificate.

Usage: test_prometheus.py AGENT PROMETHEUS"""
import json
import os
import sys
import urllib.parse
import urllib.request

from agentlib import Env, check, done, fail, start_server, wait_for

PROMETHEUS = sys.argv[2] if len(sys.argv) > 2 else "prometheus"
SRC = os.environ.get("MSKPKI_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
RULES = os.path.join(SRC, "docs", "alerts.rules.yml")

# Family -> the type Prometheus must record from the scrape's TYPE lines (issue 4's list, plus the
# issuance counter it names in its recovery section).
FAMILIES = {
    "mskpki_certificate_not_after_timestamp_seconds": "gauge",
    "mskpki_certificate_not_before_timestamp_seconds": "gauge",
    "mskpki_certificate_next_renewal_timestamp_seconds": "gauge",
    "mskpki_certificate_renewal_planned_timestamp_seconds": "gauge",
    "mskpki_certificate_renewal_overdue_timestamp_seconds": "gauge",
    "mskpki_certificate_expiring_timestamp_seconds": "gauge",
    "mskpki_certificate_ready": "gauge",
    "mskpki_rotation_last_success_timestamp_seconds": "gauge",
    "mskpki_rotation_last_attempt_timestamp_seconds": "gauge",
    "mskpki_rotations_total": "counter",
    "mskpki_rotation_duration_seconds": "histogram",
    "mskpki_rotation_consecutive_failures": "gauge",
    "mskpki_hook_failures_total": "counter",
    "mskpki_ca_requests_total": "counter",
    "mskpki_certificate_info": "gauge",
    "mskpki_build_info": "gauge",
    "mskpki_certificates_issued_total": "counter",
}

env = Env(validity="1h", retry_min="1s", retry_max="2s")
open(env.fail_file, "w").close()  # the local CA refuses: not ready, failures pile up
agent = env.start()

pdir = os.path.join(env.tmp, "prometheus")
os.mkdir(pdir)
pconf = os.path.join(pdir, "prometheus.yml")
with open(pconf, "w") as f:
    # job "mskpki-agent" is the name MskpkiAgentDown selects on.
    f.write("""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: mskpki-agent
    static_configs:
      - targets: ["127.0.0.1:%d"]
""" % (RULES, env.port))
# Port 0: prometheus logs the port it bound ("Listening on" address=127.0.0.1:PORT).
plog = os.path.join(env.tmp, "prometheus.log")
_, pport = start_server([PROMETHEUS, "--config.file=" + pconf, "--storage.tsdb.path=" + pdir + "/data",
                         "--web.listen-address=127.0.0.1:0", "--log.level=info"],
                        open(plog, "w"), log_port=(plog, r'msg="Listening on" address=127\.0\.0\.1:(\d+)'))


def api(path, **params):
    url = "http://127.0.0.1:%d/api/v1/%s" % (pport, path)
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
    except OSError:
        return None
    return body.get("data") if body.get("status") == "success" else None


def query(expr):
    """Instant vector as {frozenset(labels): float}; None when Prometheus cannot answer yet."""
    data = api("query", query=expr)
    if data is None:
        return None
    if data["resultType"] != "vector":
        fail("query %s: result type %s" % (expr, data["resultType"]))
    return {frozenset(s["metric"].items()): float(s["value"][1]) for s in data["result"]}


def one(expr):
    """The value of a query that selects exactly one series, else None."""
    r = query(expr)
    return list(r.values())[0] if r and len(r) == 1 else None


def active_alerts():
    data = api("alerts")
    if data is None:
        return None
    return {(a["labels"]["alertname"], a["labels"].get("name")) for a in data["alerts"]}


def target_up():
    data = api("targets")
    if not data or len(data["activeTargets"]) != 1:
        return None
    t = data["activeTargets"][0]
    return t if t["health"] == "up" else None


wait_for(lambda: api("status/buildinfo"), 60, "the Prometheus API")
t = wait_for(target_up, 60, "Prometheus to scrape the agent")
check(t["labels"]["job"] == "mskpki-agent" and t["lastError"] == "",
      "scrape target: %r" % t)
wait_for(lambda: one('up{job="mskpki-agent"}') == 1, 60, "up == 1 for the agent")

# ---- the outage: the alert rules match the agent's own series ----
wait_for(lambda: one('mskpki_certificate_ready{name="client"}') == 0, 60,
         "mskpki_certificate_ready == 0 as Prometheus sees it")
want = {("MskpkiCertificateNotReady", "client"), ("MskpkiRotationFailing", "client")}
wait_for(lambda: want <= (active_alerts() or set()), 60,
         "alerts %s to be active during the CA outage" % sorted(want))


def rules_ok():
    data = api("rules")
    if not data:
        return None
    rules = [r for g in data["groups"] if g["file"] == RULES for r in g["rules"]]
    names = {r["name"] for r in rules}
    for need in ("MskpkiCertificateExpiresSoon", "MskpkiRotationFailing",
                 "MskpkiCertificateNotReady"):
        if need not in names:
            fail("rule %s not loaded from %s: %s" % (need, RULES, sorted(names)))
    bad = [(r["name"], r.get("health"), r.get("lastError")) for r in rules
           if r.get("health") != "ok"]
    return rules if not bad else None


wait_for(rules_ok, 60, "every rule of %s to evaluate without error" % RULES)

# ---- recovery: ready again, the alerts clear ----
os.unlink(env.fail_file)
wait_for(lambda: one('mskpki_certificate_ready{name="client"}') == 1, 60,
         "mskpki_certificate_ready == 1 after the CA came back")


def outage_cleared():
    a = active_alerts()
    return a is not None and not a & want


wait_for(outage_cleared, 60, "the outage alerts to clear")
# The renewal-plan series the rules compare with time() are there for the certificate, in order
# (planned <= overdue <= expiring < not_after), and a fresh 1h certificate fires none of them
# (a fixed "7 days" used to call it expiring for ever).  tests/agent/alert_rules_test.py checks
# the rules' timing for 90 s .. 1 y certificates with promtool.
def plan():
    q = [one('%s{name="client"}' % m) for m in (
        "mskpki_certificate_not_before_timestamp_seconds",
        "mskpki_certificate_renewal_planned_timestamp_seconds",
        "mskpki_certificate_renewal_overdue_timestamp_seconds",
        "mskpki_certificate_expiring_timestamp_seconds",
        "mskpki_certificate_not_after_timestamp_seconds")]
    return q if None not in q and q[0] > 0 else None


nb, planned, overdue, expiring, na = wait_for(plan, 60, "the renewal plan series")
check(nb < planned <= overdue <= expiring < na, "plan out of order: %r" % ([nb, planned, overdue,
                                                                            expiring, na],))
a = active_alerts() or set()
for name in ("MskpkiCertificateExpiresSoon", "MskpkiCertificateRenewalOverdue"):
    check((name, "client") not in a, "%s fires for a fresh certificate: %r" % (name, a))


# ---- every family, under its exact name and type, with its labels ----
def metadata_complete():
    data = api("metadata")
    if not data or not all(f in data for f in FAMILIES):
        return None
    return data


meta = wait_for(metadata_complete, 60, "metadata of every family %s" % sorted(FAMILIES))
for fam, typ in FAMILIES.items():
    got = meta[fam][0]["type"]
    check(got == typ, "%s is a %s to Prometheus, expected %s" % (fam, got, typ))
    check(meta[fam][0]["help"], "%s has no HELP" % fam)
selectors = (
    'mskpki_certificate_not_after_timestamp_seconds{name="client",ca="local"}',
    'mskpki_rotations_total{name="client",result="success"}',
    'mskpki_rotations_total{name="client",result="failure"}',
    'mskpki_ca_requests_total{ca="local",code="ok"}',
    'mskpki_certificate_info{name="client",serial!="",issuer!="",subject!=""}',
    'mskpki_build_info{version!=""}',
    'mskpki_certificates_issued_total{name="client"}',
)
for sel in selectors:
    wait_for(lambda s=sel: one(s) is not None, 30, "a single series %s" % sel)
check(one('mskpki_rotations_total{name="client",result="failure"}') >= 4,
      "the outage's failures are not in Prometheus")
check(one('mskpki_certificates_issued_total{name="client"}') == 1, "issued != 1")
wait_for(lambda: one('histogram_quantile(0.5, mskpki_rotation_duration_seconds_bucket'
                     '{name="client"})') is not None, 30,
         "histogram_quantile over the rotation duration histogram")
agent.stop()
done("prometheus")
