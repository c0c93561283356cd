#!/usr/bin/env python3
"""mskpkictl cert inspect|issue|revoke and probe --revoked-cert / --format prometheus.

Usage: cert_test.py MSKPKICTL TEST_BROKER SCENARIO
  inspect      PEM, DER and PKCS#12 inputs; --key match and mismatch; --ca-file verify and a
               wrong CA; an expired certificate; table and json; exit codes 0, 1, 2, 3.
  issue_local  cert issue with the local CA: outputs written, the generation grows, key reuse,
               errors (unknown name, unsafe password file) leave nothing behind.
  revoke_crl   cert revoke with the local CA publishes crl.pem; a test broker loading that CRL
               refuses the revoked client (revoked_client_cert REFUSED, ok), accepts a fresh one;
               a broker without the CRL accepts it and the probe fails; prometheus output.
  aws          cert issue and cert revoke (--cert and --serial) against moto's AWS Private CA.
  usage        cert argument errors: exit 2 with one line naming the problem.
Every server runs on 127.0.0.1 on a port it binds itself and is stopped; the temp dir is removed.
"""
import datetime
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "agent"))
from agentlib import (Env, _children, check, done, fail, moto_argv, parse_metric,  # noqa
                      wait_for, wait_port_file)

CTL, BROKER, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
SRC = os.environ["MSKPKI_SOURCE_DIR"]


def ctl(*args, env=None, rc=None):
    r = subprocess.run([CTL] + list(args), capture_output=True, text=True, timeout=300,
                       env=env)
    if "Sanitizer" in r.stderr or "runtime error:" in r.stderr:
        fail("sanitizer report:\n" + r.stderr)
    if rc is not None and r.returncode != rc:
        fail("mskpkictl %s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s"
             % (" ".join(args), r.returncode, rc, r.stdout, r.stderr))
    return r


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def issued_env(**kw):
    """A local-CA config with one certificate 'client' (PEM outputs and a PKCS#12)."""
    env = Env(hook=False, output_extra='pkcs12 = "client.p12"; pkcs12_password_file = "%s";'
              % "{tmp}/p12.pass", **kw)
    env.output_extra = env.output_extra.replace("{tmp}", env.tmp)
    with open(os.path.join(env.tmp, "p12.pass"), "w") as f:
        f.write("s3cret")
    os.chmod(os.path.join(env.tmp, "p12.pass"), 0o600)
    env.write_config()
    os.makedirs(env.state_dir, 0o750, exist_ok=True)
    return env


def issue(env, name="client"):
    r = ctl("cert", "issue", "--config", env.conf, "--name", name, rc=0)
    check(re.search(r"issued %s: serial [0-9A-F]+, generation \d+" % name, r.stdout),
          "issue output: " + r.stdout)
    return r


def expired_cert(tmp):
    """An EC key and a clientAuth certificate that expired yesterday (self-signed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=3))
            .not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(key, hashes.SHA256()))
    path = os.path.join(tmp, "expired.pem")
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return path


def inspect_json(*args, rc):
    r = ctl("cert", "inspect", "--format", "json", *args, rc=rc)
    return json.loads(r.stdout)


def scenario_inspect():
    env = issued_env()
    issue(env)
    out = os.path.dirname(env.out("client"))
    ca = os.path.join(env.ca_dir, "ca.crt")
    key = os.path.join(out, "client.key")
    # PEM (the fullchain: leaf first, its issuer as the untrusted chain).
    v = inspect_json("--key", key, "--ca-file", ca, os.path.join(out, "fullchain.pem"), rc=0)[0]
    check(v["subject"] == "CN=client.example.com,O=Example", "subject: %s" % v["subject"])
    check(v["sans"] == ["DNS:client.example.com"], "sans: %s" % v["sans"])
    check(v["issuer"] == "CN=mskpki local CA", "issuer: %s" % v["issuer"])
    check(v["extended_key_usage"] == ["clientAuth"], "eku: %s" % v["extended_key_usage"])
    check(v["key"] == "EC P-256" and v["key_match"] is True and v["chain_verified"] is True,
          "checks: %s" % v)
    check(0 < v["seconds_left"] <= 3600 and v["ok"] and not v["expired"], "validity: %s" % v)
    fp = subprocess.run(["openssl", "x509", "-in", env.out("client"), "-noout", "-fingerprint",
                         "-sha256"], capture_output=True, text=True, check=True).stdout
    check(fp.strip().split("=", 1)[1] == v["sha256_fingerprint"], "fingerprint %s" % fp)
    serial = subprocess.run(["openssl", "x509", "-in", env.out("client"), "-noout", "-serial"],
                            capture_output=True, text=True, check=True).stdout
    check(serial.strip().split("=", 1)[1] == v["serial"], "serial %s vs %s" % (serial, v))
    # DER, and the table format.
    der = os.path.join(env.tmp, "client.der")
    openssl("x509", "-in", env.out("client"), "-outform", "DER", "-out", der)
    r = ctl("cert", "inspect", "--key", key, der, rc=0)
    for want in ("subject:            CN=client.example.com", "key matches:        yes",
                 "chain verifies:     not checked", "result:             ok",
                 "extended key usage: clientAuth", "time left:"):
        check(want in r.stdout, "table lacks %r:\n%s" % (want, r.stdout))
    # PKCS#12: its own key is checked; a wrong password and a missing one are errors.
    p12 = os.path.join(out, "client.p12")
    v = inspect_json("--password-file", os.path.join(env.tmp, "p12.pass"), "--ca-file", ca, p12,
                     rc=0)[0]
    check(v["key_match"] is True and v["chain_verified"] is True, "p12: %s" % v)
    bad = os.path.join(env.tmp, "bad.pass")
    with open(bad, "w") as f:
        f.write("wrong")
    os.chmod(bad, 0o600)
    r = ctl("cert", "inspect", "--password-file", bad, p12, rc=3)
    check("MAC verification failed" in r.stderr, "wrong p12 password: " + r.stderr)
    r = ctl("cert", "inspect", p12, rc=2)
    check("needs --password-file" in r.stderr, "p12 without password: " + r.stderr)
    # A key that does not match, a CA that did not sign it: exit 1, each named.
    other = os.path.join(env.tmp, "other.key")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", other)
    v = inspect_json("--key", other, env.out("client"), rc=1)[0]
    check(v["key_match"] is False and not v["ok"] and "does not match" in v["problem"], str(v))
    other_ca = os.path.join(env.tmp, "other-ca.pem")
    openssl("req", "-x509", "-new", "-key", other, "-subj", "/CN=other", "-days", "2",
            "-out", other_ca)
    v = inspect_json("--ca-file", other_ca, env.out("client"), rc=1)[0]
    check(v["chain_verified"] is False and "chain:" in v["problem"], str(v))
    # Expired: exit 1 even without other checks; two files report both.
    exp = expired_cert(env.tmp)
    vs = inspect_json(env.out("client"), exp, rc=1)
    check(len(vs) == 2 and vs[0]["ok"] and vs[1]["expired"] and vs[1]["seconds_left"] < 0
          and not vs[1]["ok"], str(vs))
    r = ctl("cert", "inspect", exp, rc=1)
    check("expired 1d" in r.stdout and "result:             FAIL" in r.stdout, r.stdout)
    # Not a certificate, missing file: exit 3 naming the file.
    junk = os.path.join(env.tmp, "junk.pem")
    with open(junk, "w") as f:
        f.write("hello\n")
    r = ctl("cert", "inspect", junk, rc=3)
    check(junk in r.stderr and "not a PEM, DER or PKCS#12" in r.stderr, r.stderr)
    r = ctl("cert", "inspect", os.path.join(env.tmp, "nope.pem"), rc=3)
    check("nope.pem" in r.stderr, r.stderr)
    done("cert inspect")


def scenario_issue_local():
    env = issued_env(cert_extra="reuse_key = true;")
    issue(env)
    check(os.stat(env.out("client", "client.key")).st_mode & 0o777 == 0o600, "key mode")
    r = subprocess.run(["openssl", "verify", "-purpose", "sslclient", "-CAfile",
                        os.path.join(env.ca_dir, "ca.crt"), env.out("client")],
                       capture_output=True, text=True)
    check(r.returncode == 0, "openssl verify: " + r.stdout + r.stderr)
    first = open(env.out("client")).read()
    first_key = open(env.out("client", "client.key")).read()
    r = issue(env)
    check("generation 2" in r.stdout, "second issue: " + r.stdout)
    check(open(env.out("client")).read() != first, "the certificate was not replaced")
    check(open(env.out("client", "client.key")).read() == first_key, "reuse_key ignored")
    # Errors: unknown name (2), unsafe PKCS#12 password file (2, before the CA is asked).
    r = ctl("cert", "issue", "--config", env.conf, "--name", "nope", rc=2)
    check("no certificate named 'nope'" in r.stderr, r.stderr)
    os.chmod(os.path.join(env.tmp, "p12.pass"), 0o644)
    r = ctl("cert", "issue", "--config", env.conf, "--name", "client", rc=2)
    # The message carries the command that fixes it (the file is the caller's own: 600).
    check("p12.pass" in r.stderr and "run: chmod 600 " in r.stderr, r.stderr)
    check(open(env.out("client")).read() != first and "generation" not in r.stdout,
          "a failed issue changed the output")
    r = ctl("cert", "issue", "--config", os.path.join(env.tmp, "missing.conf"), "--name", "x")
    check(r.returncode in (2, 3) and "missing.conf" in r.stderr, r.stderr)
    # --format json: one object with the documented fields (docs/cert.md).
    os.chmod(os.path.join(env.tmp, "p12.pass"), 0o600)
    r = ctl("cert", "issue", "--config", env.conf, "--name", "client", "--format", "json", rc=0)
    doc = json.loads(r.stdout)
    check(set(doc) == {"name", "serial", "generation", "not_before", "not_after", "subject",
                       "certificate", "resumed"}, "issue JSON fields: %s" % sorted(doc))
    served = inspect_json(env.out("client"), rc=0)[0]
    check(doc["name"] == "client" and doc["serial"] == served["serial"]
          and doc["generation"] == 3 and doc["resumed"] is False
          and doc["certificate"] == env.out("client")
          and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["not_after"])
          and "CN=" in doc["subject"], "issue JSON: %s vs %s" % (doc, served))
    # --quiet: the result line alone; --verbose: debug log lines on stderr.
    r = ctl("cert", "issue", "--config", env.conf, "--name", "client", "--quiet", rc=0)
    check(r.stdout.count("\n") == 1 and "generation 4" in r.stdout and r.stderr == "",
          "quiet issue: %r %r" % (r.stdout, r.stderr))
    r = ctl("cert", "issue", "--config", env.conf, "--name", "client", "--verbose", rc=0)
    check("level=debug" in r.stderr and "written to" in r.stdout, "verbose issue: %r" % r.stderr)
    # Without --config: the agent's default config, as status and revoke use.  Only checked where
    # none is installed: on a host with one it would really issue.
    if not os.path.exists("/etc/mskpki/mskpki.conf"):
        r = ctl("cert", "issue", "--name", "client")
        check(r.returncode in (2, 3) and "/etc/mskpki/mskpki.conf" in r.stderr
              and r.stderr.count("\n") == 1, "default config: %d %r" % (r.returncode, r.stderr))
    # status --quiet: the exit status alone; --verbose is accepted.
    env2 = issued_env(names=("client", "ghost"))
    issue(env2, "client")
    r = ctl("status", "--config", env2.conf, rc=1)
    check("ghost" in r.stdout and "no state file" in r.stderr, "status: %r %r" % (r.stdout,
                                                                                 r.stderr))
    r = ctl("status", "--config", env2.conf, "--quiet", rc=1)
    check(r.stdout == "" and r.stderr == "", "quiet status: %r %r" % (r.stdout, r.stderr))
    # The same verdict, and exit status, as without --quiet.
    full = ctl("status", "--config", env.conf)
    r = ctl("status", "--config", env.conf, "--quiet", rc=full.returncode)
    check(r.stdout == "" and r.stderr == "", "quiet status: %r %r" % (r.stdout, r.stderr))
    r = ctl("status", "--config", env.conf, "--verbose", "--format", "json", rc=full.returncode)
    check(json.loads(r.stdout)["certificates"][0]["name"] == "client", r.stdout)
    done("cert issue (local CA)")


def server_pki(tmp):
    """A separate CA for the broker's server certificate (the local CA issues clientAuth only)."""
    d = os.path.join(tmp, "srv")
    os.mkdir(d)
    k, ca, sk, csr, crt, ext = (os.path.join(d, n) for n in
                                ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem",
                                 "ext"))
    for key in (k, sk):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    openssl("req", "-x509", "-new", "-key", k, "-subj", "/CN=srv-ca", "-days", "2", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            "-out", ca)
    openssl("req", "-new", "-key", sk, "-subj", "/CN=localhost", "-out", csr)
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", k, "-CAcreateserial", "-days", "2",
            "-extfile", ext, "-out", crt)
    return ca, crt, sk


def start_broker(tmp, *args):
    log = open(os.path.join(tmp, "broker.%d.out" % len(_children)), "w+")
    p = subprocess.Popen([BROKER, "--port", "0"] + list(args), stdout=log,
                         stderr=subprocess.STDOUT, text=True)
    _children.append(p)

    def port():
        if p.poll() is not None:
            fail("test_broker exited: " + open(log.name).read())
        m = re.search(r"^PORT=(\d+)", open(log.name).read(), re.M)
        return m and int(m.group(1))
    return p, wait_for(port, 30, "test_broker's port")


def stop(p):
    p.terminate()
    p.wait(timeout=30)


def one(results, case, tls):
    for x in results:
        if x["case"] == case and x["tls_version"] == tls:
            return x
    fail("no %s %s in %s" % (case, tls, results))


def scenario_revoke_crl():
    env = issued_env(names=("client", "revoked", "third"))
    issue(env, "client")
    issue(env, "revoked")
    issue(env, "third")
    ca = os.path.join(env.ca_dir, "ca.crt")
    crl = os.path.join(env.ca_dir, "crl.pem")
    revoked = env.out("revoked")
    # It is the block's certificate in use: --force (issue 17; tests/agent/test_control.py).
    r = ctl("cert", "revoke", "--config", env.conf, "--cert", revoked, "--reason",
            "KEY_COMPROMISE", "--force", rc=0)
    serial = subprocess.run(["openssl", "x509", "-in", revoked, "-noout", "-serial"],
                            capture_output=True, text=True, check=True).stdout.split("=")[1].strip()
    check(serial in r.stdout and "local CA" in r.stdout, r.stdout)
    # MSK does not check CRLs: revoke names the principal (as Kafka derives it from the subject)
    # and the ACL that denies it.
    from cryptography import x509 as _x509
    subject = _x509.load_pem_x509_certificate(open(revoked, "rb").read()).subject
    principal = "User:" + subject.rfc4514_string()
    check("does not check CRLs" in r.stdout, r.stdout)
    check("  principal: %s\n" % principal in r.stdout, "principal: " + r.stdout)
    check("kafka-acls --bootstrap-server BOOTSTRAP_BROKERS --command-config admin.properties "
          "--add --deny-principal '%s' --operation All --topic '*' --group '*' --cluster"
          % principal in r.stdout, "kafka-acls command: " + r.stdout)
    text = subprocess.run(["openssl", "crl", "-in", crl, "-noout", "-text"], capture_output=True,
                          text=True, check=True).stdout
    check(serial in text and "Key Compromise" in text, "crl.pem lacks the revocation:\n" + text)
    check(ctl("cert", "inspect", "--ca-file", ca, env.out("client")).returncode == 0,
          "the other certificate is unaffected")
    # Reasons in any case; --format json: the documented object.  "third" is the certificate
    # its block uses now: --force (issue 17).
    third = env.out("third")
    r = ctl("cert", "revoke", "--config", env.conf, "--cert", third, "--reason", "superseded",
            "--format", "json", "--force", rc=0)
    doc = json.loads(r.stdout)
    tserial = subprocess.run(["openssl", "x509", "-in", third, "-noout", "-serial"],
                             capture_output=True, text=True, check=True).stdout.split("=")[1]
    tsubject = _x509.load_pem_x509_certificate(open(third, "rb").read()).subject
    check(set(doc) == {"serial", "reason", "ca", "principal", "deny_command"}, str(doc))
    check(doc["serial"] == tserial.strip() and doc["reason"] == "SUPERSEDED"
          and doc["ca"] == "local" and doc["principal"] == "User:" + tsubject.rfc4514_string()
          and doc["deny_command"].startswith("kafka-acls "), "revoke JSON: %s" % doc)
    text = subprocess.run(["openssl", "crl", "-in", crl, "-noout", "-text"], capture_output=True,
                          text=True, check=True).stdout
    check(tserial.strip() in text and "Superseded" in text, "crl.pem lacks third:\n" + text)
    # The local CA revokes only what it issued, and only by certificate.
    r = ctl("cert", "revoke", "--config", env.conf, "--cert", expired_cert(env.tmp), "--reason",
            "SUPERSEDED", rc=1)
    check("not issued by" in r.stderr, r.stderr)
    r = ctl("cert", "revoke", "--config", env.conf, "--serial", serial, "--reason", "SUPERSEDED",
            rc=2)
    check("--serial needs --ca-arn" in r.stderr, r.stderr)
    # The short form `revoke --cert FILE --reason R` uses the agent's default config.  Only
    # checked where none is installed: on a host with one it would really revoke.
    if not os.path.exists("/etc/mskpki/mskpki.conf"):
        r = ctl("cert", "revoke", "--cert", env.out("client"), "--reason", "SUPERSEDED")
        check(r.returncode in (2, 3) and "/etc/mskpki/mskpki.conf" in r.stderr
              and r.stderr.count("\n") == 1, "default config: %d %r" % (r.returncode, r.stderr))

    srv_ca, srv_crt, srv_key = server_pki(env.tmp)
    probe = ["probe", "--ca-file", srv_ca, "--server-name", "localhost",
             "--agent-config", env.conf, "--name", "client",
             "--revoked-cert", revoked, "--revoked-key", env.out("revoked", "client.key"),
             "--timeout", "10"]
    # A broker that loads the local CA's CRL refuses the revoked client, accepts the valid one.
    b, port = start_broker(env.tmp, "--cert", srv_crt, "--key", srv_key, "--ca-file", ca,
                           "--require-client-cert", "--crl", crl)
    r = ctl(*probe, "--bootstrap", "127.0.0.1:%d" % port, "--format", "json", rc=0)
    res = json.loads(r.stdout)["results"]
    for tls in ("TLSv1.2", "TLSv1.3"):
        x = one(res, "revoked_client_cert", tls)
        check(x["outcome"] == "REFUSED" and x["ok"], "revoked case: %s" % x)
        check(one(res, "valid_client_cert", tls)["outcome"] == "ACCEPTED", "valid: %s" % res)
    check("certificate revoked (44)" in one(res, "revoked_client_cert", "TLSv1.3")["detail"],
          str(res))
    # Prometheus textfile output, written atomically to --output.
    prom = os.path.join(env.tmp, "textfile", "mskpki_probe.prom")
    os.mkdir(os.path.dirname(prom))
    ctl(*probe, "--bootstrap", "127.0.0.1:%d" % port, "--format", "prometheus", "--output", prom,
        rc=0)
    text = open(prom).read()
    broker = "127.0.0.1:%d" % port
    check(parse_metric(text, "mskpki_probe_case_ok", {"broker": broker,
                                                      "case": "revoked_client_cert",
                                                      "tls": "TLSv1.2"}) == 1, text)
    ts = parse_metric(text, "mskpki_probe_last_run_timestamp_seconds")
    check(ts is not None and abs(ts - datetime.datetime.now().timestamp()) < 3600, text)
    pc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                        text=True)
    check(pc.returncode == 0, "promtool check metrics: " + pc.stdout + pc.stderr)
    stop(b)
    # A broker without the CRL accepts the revoked client: the probe fails, the metric says 0.
    b, port = start_broker(env.tmp, "--cert", srv_crt, "--key", srv_key, "--ca-file", ca,
                           "--require-client-cert")
    ctl(*probe, "--bootstrap", "127.0.0.1:%d" % port, "--format", "prometheus", "--output", prom,
        rc=1)
    text = open(prom).read()
    check(parse_metric(text, "mskpki_probe_case_ok", {"case": "revoked_client_cert",
                                                      "tls": "TLSv1.3"}) == 0, text)
    check(parse_metric(text, "mskpki_probe_case_ok", {"case": "no_client_cert"}) == 1, text)
    stop(b)
    # --quiet: the result line alone, without the MSK note ("client" is in use: --force).
    r = ctl("cert", "revoke", "--config", env.conf, "--cert", env.out("client"), "--reason",
            "Key_Compromise", "--quiet", "--force", rc=0)
    check(r.stdout.count("\n") == 1 and "(KEY_COMPROMISE)" in r.stdout and r.stderr == "",
          "quiet revoke: %r %r" % (r.stdout, r.stderr))
    # Without --revoked-cert the case is not reported at all; one flag alone is a usage error.
    r = ctl("probe", "--ca-file", srv_ca, "--bootstrap", "127.0.0.1:1", "--revoked-cert", revoked,
            rc=2)
    check("--revoked-cert and --revoked-key go together" in r.stderr, r.stderr)
    r = ctl("probe", "--ca-file", srv_ca, "--bootstrap", "127.0.0.1:1", "--format", "prom", rc=2)
    check("prometheus" in r.stderr, r.stderr)
    done("cert revoke (local CA) refused by a broker with the CRL")


AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/mskpki-test", "AWS_SHARED_CREDENTIALS_FILE":
    "/nonexistent/mskpki-test", "AWS_EC2_METADATA_DISABLED": "true",
}


def scenario_aws():
    for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ACM_PCA"):
        os.environ.pop(k, None)
    os.environ.update(AWS_ENV)
    env = issued_env()
    port_file = os.path.join(env.tmp, "moto.port")
    moto = subprocess.Popen(moto_argv(port_file),
                            stdout=open(os.path.join(env.tmp, "moto.log"), "w"),
                            stderr=subprocess.STDOUT)
    _children.append(moto)
    try:
        mport = wait_port_file(port_file, moto)
    except RuntimeError as e:
        fail("moto: %s" % e)
    url = "http://127.0.0.1:%d" % mport

    def up():
        if moto.poll() is not None:
            fail("moto exited")
        try:
            import socket
            socket.create_connection(("127.0.0.1", mport), timeout=1).close()
            return True
        except OSError:
            return None
    wait_for(up, 60, "moto")
    r = subprocess.run([sys.executable, os.path.join(SRC, "tests/pca/make_ca.py"), url, "root"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "make_ca.py: " + r.stderr)
    arn = r.stdout.split()[1]
    env.ca_block = ('ca = { backend = "aws-pca"; aws_pca = { ca_arn = "%s"; region = "us-east-1";'
                    ' endpoint_url = "%s"; }; };' % (arn, url))
    env.write_config()
    issue(env)
    check(os.path.exists(env.out("client", "ca.crt")), "no chain written")
    v = inspect_json("--ca-file", env.out("client", "ca.crt"), "--key",
                     env.out("client", "client.key"), env.out("client"), rc=0)[0]
    check(v["chain_verified"] and v["key_match"], str(v))
    check(not os.path.exists(os.path.join(env.state_dir, "client.pending.json")),
          "pending record left behind")
    # Revoke by certificate through the config, then by serial through --ca-arn.
    r = ctl("cert", "revoke", "--config", env.conf, "--cert", env.out("client"), "--reason",
            "SUPERSEDED", "--force", rc=0)
    check("aws-pca" in r.stdout, r.stdout)
    issue(env)
    second = inspect_json(env.out("client"), rc=0)[0]["serial"]
    check(second != v["serial"], "the second issue kept serial %s" % second)
    check("principal: User:CN=client.example.com,O=Example" in r.stdout, r.stdout)
    r = ctl("cert", "revoke", "--ca-arn", arn, "--endpoint-url", url, "--region", "us-east-1",
            "--serial", ":".join(re.findall("..", second)), "--reason", "KEY_COMPROMISE", rc=0)
    # By serial the subject is unknown: no made-up principal, a pointer to --cert instead.
    check("unknown from the serial alone" in r.stdout and "kafka-acls" not in r.stdout, r.stdout)
    # What moto's RevokeCertificate recorded (its /moto-api/data.json model dump): each serial
    # with the reason as the API names it, so a wrong serial form or reason cannot pass.
    import urllib.request
    with urllib.request.urlopen(url + "/moto-api/data.json", timeout=30) as f:
        models = json.load(f)
    recorded = {}
    for service, kinds in models.items():
        for instances in kinds.values():
            for inst in instances:
                if inst.get("arn") == arn or inst.get("certificate_authority_arn") == arn:
                    for ser, info in (inst.get("revoked_certificates") or {}).items():
                        recorded[ser.replace(":", "").upper().lstrip("0")] = \
                            info["revocation_reason"]
    check(recorded == {v["serial"].lstrip("0"): "SUPERSEDED", second.lstrip("0"): "KEY_COMPROMISE"},
          "moto recorded %s" % recorded)
    # An unknown CA: the AWS error, exit 1; no credentials at all: exit 3.
    bad_arn = arn[:-4] + "0000"
    r = ctl("cert", "revoke", "--ca-arn", bad_arn, "--endpoint-url", url, "--serial", "0A",
            "--reason", "SUPERSEDED", rc=1)
    check("ResourceNotFoundException" in r.stderr, r.stderr)
    noenv = dict(os.environ)
    noenv.pop("AWS_ACCESS_KEY_ID")
    noenv.pop("AWS_SECRET_ACCESS_KEY")
    r = ctl("cert", "revoke", "--ca-arn", arn, "--endpoint-url", url, "--serial", "0A",
            "--reason", "SUPERSEDED", env=noenv, rc=3)
    done("cert issue and revoke against moto")


def scenario_usage():
    cases = [
        (["cert"], "usage: mskpkictl cert inspect"),
        (["cert", "frobnicate"], "unknown subcommand 'frobnicate'"),
        (["cert", "inspect"], "at least one certificate FILE"),
        (["cert", "inspect", "--format", "xml", "x"], "expected table or json"),
        (["cert", "inspect", "--key-passphrase-file", "p", "x"], "goes with --key"),
        (["cert", "issue", "--config", "x"], "--name is required"),
        (["cert", "issue", "--name", "x", "--format", "yaml"], "expected table or json"),
        (["cert", "issue", "--name", "x", "--quiet", "--verbose"], "exclude each other"),
        (["cert", "revoke", "--cert", "c", "--reason", "SUPERSEDED", "--format", "xml"],
         "expected table or json"),
        (["cert", "issue", "--config", "x", "--name", "y", "z"], "unexpected argument 'z'"),
        (["cert", "revoke", "--config", "c", "--reason", "SUPERSEDED"],
         "exactly one of --cert and --serial"),
        (["cert", "revoke", "--cert", "c", "--config", "c", "--ca-arn", "arn:aws:acm-pca:x",
          "--reason", "SUPERSEDED"], "--config or --ca-arn, not both"),
        (["cert", "revoke", "--serial", "0A", "--reason", "SUPERSEDED"], "--serial needs --ca-arn"),
        (["cert", "revoke", "--cert", "c", "--config", "c"], "--reason is required"),
        (["cert", "revoke", "--cert", "c", "--config", "c", "--reason", "remove_from_crl"],
         "not an AWS RevocationReason"),
        (["cert", "revoke", "--cert", "c", "--config", "c", "--reason", "SUPERSEDED",
          "--region", "r"], "go with --ca-arn"),
        (["cert", "revoke", "--serial", "0A", "--ca-arn", "nope", "--reason", "SUPERSEDED"],
         "is not an ARN"),
        (["cert", "revoke", "--serial", "zz", "--ca-arn", "arn:aws:acm-pca:us-east-1:1:ca/x",
          "--reason", "SUPERSEDED", "--endpoint-url", "http://127.0.0.1:1"], "not hexadecimal"),
        (["cert", "revoke", "--serial", "01" * 21, "--ca-arn", "arn:aws:acm-pca:us-east-1:1:ca/x",
          "--reason", "SUPERSEDED", "--endpoint-url", "http://127.0.0.1:1"], "20 octets"),
    ]
    for args, want in cases:
        r = ctl(*args, rc=2)
        check(want in r.stderr, "%s: stderr %r lacks %r" % (args, r.stderr, want))
        check(r.stderr.count("\n") <= 5, "%s: not a short error: %r" % (args, r.stderr))
    for sub in ("inspect", "issue", "revoke"):
        r = ctl("cert", sub, "--help", rc=0)
        check("usage: mskpkictl cert " + sub in r.stdout, r.stdout)
        # Each subcommand's --help shows its own options only.
        others = [o for o in ("inspect", "issue", "revoke") if o != sub]
        check(not any("mskpkictl cert " + o in r.stdout for o in others), r.stdout)
    r = ctl("cert", "revoke", "--help", rc=0)
    check("--reason REASON" in r.stdout and "--format table|json" in r.stdout
          and "--name" not in r.stdout, r.stdout)
    done("cert usage errors")


{"inspect": scenario_inspect, "issue_local": scenario_issue_local,
 "revoke_crl": scenario_revoke_crl, "aws": scenario_aws,
 "usage": scenario_usage}[SCENARIO]()
