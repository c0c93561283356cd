#!/usr/bin/env python3
"""`mskpkictl credentials` against tests/aws/fake_rolesanywhere.py, which checks every signature
with the `cryptography` package: EC and RSA leaves, an intermediate in X-Amz-X509-Chain, an
untrusted chain, clock skew (the fake's clock shifted), a key that does not match, an unsupported
key type, a disabled profile, an expired certificate, and the --config form.  The fake itself is
shown to refuse a wrong-key signature made here in Python.

usage: rolesanywhere_test.py MSKPKICTL
"""
import base64
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import mskpki_testlib  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

CTL = sys.argv[1]
TA = "arn:aws:rolesanywhere:eu-west-1:111122223333:trust-anchor/ta1"
PROFILE = "arn:aws:rolesanywhere:eu-west-1:111122223333:profile/p1"
ROLE = "arn:aws:iam::111122223333:role/mskpki-issuer"
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(subject_key, cn, issuer_cert=None, issuer_key=None, ca=False, days=1,
              not_after=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(name(cn))
         .issuer_name(issuer_cert.subject if issuer_cert else name(cn))
         .public_key(subject_key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(hours=2))
         .not_valid_after(not_after or now + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    signer = issuer_key or subject_key
    algo = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return b.sign(signer, algo)


def write(path, *objs):
    with open(path, "wb") as f:
        for o in objs:
            if isinstance(o, x509.Certificate):
                f.write(o.public_bytes(serialization.Encoding.PEM))
            else:
                f.write(o.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    return path


def start_fake(tmp, skew=0):
    port_file = os.path.join(tmp, f"port-{skew}")
    log = os.path.join(tmp, f"fake-{skew}.log")
    proc = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__),
                                                          "fake_rolesanywhere.py"),
                             "--port-file", port_file, "--trust", os.path.join(tmp, "trust.pem"),
                             "--log", log, "--skew", str(skew), "--lifetime", "300"],
                            stdout=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(port_file):
            break
        time.sleep(0.1)
    port = int(open(port_file).read())
    mskpki_testlib.wait_port(port, proc)
    return proc, f"http://127.0.0.1:{port}", log


def events(log):
    if not os.path.exists(log):
        return []
    return [json.loads(line) for line in open(log)]


def ctl(*args):
    p = subprocess.run([CTL, "credentials", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def helper_args(tmp, endpoint, cert, key, inter=None, profile=PROFILE, role=ROLE):
    a = ["--certificate", os.path.join(tmp, cert), "--private-key", os.path.join(tmp, key),
         "--trust-anchor-arn", TA, "--profile-arn", profile, "--role-arn", role,
         "--endpoint", endpoint, "--session-duration", "900"]
    if inter:
        a += ["--intermediates", os.path.join(tmp, inter)]
    return a


def fake_refuses_wrong_key(endpoint, leaf, wrong_key):
    """A request signed here with a key that is not the leaf's must be refused."""
    body = json.dumps({"profileArn": PROFILE, "roleArn": ROLE, "trustAnchorArn": TA}).encode()
    amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    host = endpoint.split("://")[1]
    x5 = base64.b64encode(leaf.public_bytes(serialization.Encoding.DER)).decode()
    signed = "content-type;host;x-amz-date;x-amz-x509"
    canon = "\n".join(["POST", "/sessions", "",
                       f"content-type:application/json\nhost:{host}\nx-amz-date:{amz}\n"
                       f"x-amz-x509:{x5}\n", signed, hashlib.sha256(body).hexdigest()])
    scope = f"{amz[:8]}/eu-west-1/rolesanywhere/aws4_request"
    sts = "\n".join(["AWS4-X509-ECDSA-SHA256", amz, scope,
                     hashlib.sha256(canon.encode()).hexdigest()])
    sig = wrong_key.sign(sts.encode(), ec.ECDSA(hashes.SHA256())).hex()
    req = urllib.request.Request(endpoint + "/sessions", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Amz-Date": amz, "X-Amz-X509": x5,
        "Authorization": f"AWS4-X509-ECDSA-SHA256 Credential={leaf.serial_number}/{scope}, "
                         f"SignedHeaders={signed}, Signature={sig}"})
    try:
        urllib.request.urlopen(req, timeout=10)
        return None
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main():
    tmp = tempfile.mkdtemp(prefix="mskpki-ra-")
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = make_cert(root_key, "test root", ca=True, days=30)
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = make_cert(inter_key, "test intermediate", root, root_key, ca=True, days=30)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = make_cert(other_key, "other root", ca=True)
    write(os.path.join(tmp, "trust.pem"), root)

    ec_key = ec.generate_private_key(ec.SECP256R1())
    write(os.path.join(tmp, "ec.crt"), make_cert(ec_key, "host-ec", root, root_key))
    write(os.path.join(tmp, "ec.key"), ec_key)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write(os.path.join(tmp, "rsa.crt"), make_cert(rsa_key, "host-rsa", inter, inter_key))
    write(os.path.join(tmp, "rsa.key"), rsa_key)
    write(os.path.join(tmp, "chain.pem"), inter, root)
    write(os.path.join(tmp, "untrusted.crt"), make_cert(ec_key, "host-x", other, other_key))
    ed_key = ed25519.Ed25519PrivateKey.generate()
    write(os.path.join(tmp, "ed.crt"), make_cert(ed_key, "host-ed", root, root_key))
    write(os.path.join(tmp, "ed.key"), ed_key)
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    write(os.path.join(tmp, "expired.crt"), make_cert(ec_key, "host-old", root, root_key,
                                                      not_after=past))

    fake, endpoint, log = start_fake(tmp)
    skewed, skew_endpoint, _ = start_fake(tmp, skew=-900)
    try:
        rc, out, err = ctl(*helper_args(tmp, endpoint, "ec.crt", "ec.key"))
        check(rc == 0, f"EC leaf: exit 0 (got {rc}: {err.strip()})")
        doc = json.loads(out) if rc == 0 else {}
        check(doc.get("Version") == 1 and doc.get("AccessKeyId") == "ASIAROLESANYWHERE000001"
              and doc.get("SessionToken") == "raToken1" and doc.get("Expiration", "")
              .endswith("Z"), "EC leaf: credential_process JSON, Version 1")
        ev = events(log)[-1]
        check(ev["event"] == "session" and ev["alg"] == "AWS4-X509-ECDSA-SHA256"
              and ev["chain"] == 0 and ev["duration"] == 900 and ev["cn"] == "host-ec",
              f"EC leaf: fake verified an ECDSA signature ({ev})")

        rc, out, err = ctl(*helper_args(tmp, endpoint, "rsa.crt", "rsa.key", "chain.pem"))
        check(rc == 0, f"RSA leaf + intermediate: exit 0 (got {rc}: {err.strip()})")
        ev = events(log)[-1]
        check(ev["event"] == "session" and ev["alg"] == "AWS4-X509-RSA-SHA256"
              and ev["chain"] == 1, f"RSA leaf: one intermediate sent, root dropped ({ev})")

        rc, out, err = ctl(*helper_args(tmp, endpoint, "rsa.crt", "rsa.key"))
        check(rc == 1 and "is not trusted by trust anchor" in err and err.count("\n") == 1,
              f"intermediate missing: one line, untrusted ({rc}: {err.strip()})")

        rc, out, err = ctl(*helper_args(tmp, endpoint, "untrusted.crt", "ec.key"))
        check(rc == 1 and "is not trusted by trust anchor" in err and out == "",
              f"untrusted chain refused ({rc}: {err.strip()})")

        rc, out, err = ctl(*helper_args(tmp, skew_endpoint, "ec.crt", "ec.key"))
        check(rc == 1 and "s ahead of the service's" in err and "NTP" in err,
              f"clock skew reported ({rc}: {err.strip()})")
        try:
            secs = int(err.split("clock is ")[1].split(" s ")[0])
        except (IndexError, ValueError):
            secs = -1
        check(890 <= secs <= 910, f"clock skew measured from the Date header: {secs} s")

        rc, out, err = ctl(*helper_args(tmp, endpoint, "ec.crt", "rsa.key"))
        check(rc != 0 and "ec.crt" in err and out == "",
              f"key that does not match the certificate refused locally ({rc}: {err.strip()})")
        refused = fake_refuses_wrong_key(endpoint, x509.load_pem_x509_certificate(
            open(os.path.join(tmp, "ec.crt"), "rb").read()), other_key)
        check(refused is not None and refused[0] == 403 and "Invalid signature" in refused[1],
              f"the fake refuses a wrong-key signature ({refused})")

        rc, out, err = ctl(*helper_args(tmp, endpoint, "ed.crt", "ed.key"))
        check(rc == 3 and "accepts only EC and RSA" in err,
              f"Ed25519 refused: key type ({rc}: {err.strip()})")

        rc, out, err = ctl(*helper_args(tmp, endpoint, "ec.crt", "ec.key",
                                        profile=PROFILE + "-disabled"))
        check(rc == 1 and "access denied by profile" in err and "Profile is disabled" in err,
              f"disabled profile ({rc}: {err.strip()})")

        rc, out, err = ctl(*helper_args(tmp, endpoint, "ec.crt", "ec.key",
                                        role=ROLE + "-denied"))
        check(rc == 1 and "its trust policy must let" in err,
              f"role trust policy refusal ({rc}: {err.strip()})")

        rc, out, err = ctl(*helper_args(tmp, endpoint, "expired.crt", "ec.key"))
        check(rc == 3 and "has expired" in err, f"expired certificate ({rc}: {err.strip()})")

        # The agent's configuration names the certificate.
        outdir = os.path.join(tmp, "out")
        os.mkdir(outdir)
        write(os.path.join(outdir, "c.crt"), make_cert(ec_key, "host-conf", root, root_key))
        write(os.path.join(outdir, "c.key"), ec_key)
        conf = os.path.join(tmp, "mskpki.conf")
        with open(conf, "w") as f:
            f.write(f"""
ca = {{ backend = "aws-pca";
  aws_pca = {{ ca_arn = "arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/x";
    roles_anywhere = {{ trust_anchor_arn = "{TA}"; profile_arn = "{PROFILE}";
      role_arn = "{ROLE}"; certificate = "kafka"; duration = "1h"; session_name = "host-conf";
      endpoint_url = "{endpoint}"; }};
  }};
}};
state_dir = "{tmp}/state";
certificates = ( {{ name = "kafka"; subject = {{ common_name = "host-conf"; }};
    output = {{ directory = "{outdir}"; key = "c.key"; cert = "c.crt"; }}; }} );
""")
        rc, out, err = ctl("--config", conf)
        check(rc == 0 and json.loads(out or "{}").get("Version") == 1,
              f"--config: the configured certificate ({rc}: {err.strip()})")
        ev = events(log)[-1]
        check(ev.get("cn") == "host-conf" and ev.get("duration") == 3600
              and ev.get("session") == "host-conf", f"--config: settings used ({ev})")
        rc, out, err = ctl("--config", conf, "--certificate", "nope")
        check(rc == 3 and "no certificate named 'nope'" in err, f"--config: unknown name ({err})")
        rc, out, err = ctl("--region", "eu-west-1")
        check(rc == 2, "helper flags without --private-key: usage error")
    finally:
        mskpki_testlib.stop(fake)
        mskpki_testlib.stop(skewed)
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILS:
        print(f"{len(FAILS)} failure(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
