#!/usr/bin/env python3
"""bench_probe.py: wall time of `mskpkictl probe` over many loopback brokers, against a loop of
`openssl s_client` processes doing the same handshakes.

  bench_probe.py --mskpkictl PATH --broker PATH [--brokers 100] [--concurrency 4,16]
                 [--repeat 3] [--no-s-client]

Starts --brokers test_broker processes (tests/tools/test_broker.c: EC P-256, client certificate
required, TLS 1.2 and 1.3) on free loopback ports, then runs `mskpkictl probe` over all of them
with every case, once per --concurrency value (the first is the default, 4), --repeat times.
The peer runs, one after the other as a shell loop would, one `openssl s_client` per handshake
probe makes: per broker and TLS version, one without a certificate (version detection) and one
per case (none, self-signed, expired, valid, valid + broker verification, not yet valid), and per
broker one TLS 1.0 and one TLS 1.1 handshake (legacy_tls_version, at security level 0).  Its
identities are made before the timing starts; probe makes its throw-away ones inside its timed
run.
Prints one "figure" line per run; never asserts.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def ossl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_pki(d):
    """ca, server (localhost, 127.0.0.1), client (clientAuth, by ca), selfsigned, and expired
    (by a throw-away CA, valid until yesterday), all EC P-256."""
    def key(name):
        ossl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
             os.path.join(d, name + ".key"))

    def ca(name):
        key(name)
        ossl("req", "-x509", "-new", "-key", os.path.join(d, name + ".key"), "-subj",
             "/CN=" + name, "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out",
             os.path.join(d, name + ".pem"))

    def sign(name, cn, ext, by, days="10"):
        key(name)
        ossl("req", "-new", "-key", os.path.join(d, name + ".key"), "-subj", "/CN=" + cn,
             "-out", os.path.join(d, name + ".csr"))
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        args = ["x509", "-req", "-in", os.path.join(d, name + ".csr"), "-CA",
                os.path.join(d, by + ".pem"), "-CAkey", os.path.join(d, by + ".key"),
                "-CAcreateserial", "-extfile", os.path.join(d, name + ".ext"), "-out",
                os.path.join(d, name + ".pem"), "-days", days]
        ossl(*args)

    ca("ca")
    ca("throwaway")
    sign("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
         "extendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n", "ca")
    client_ext = "extendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\n"
    sign("client", "bench-client", client_ext, "ca")
    expired(d)
    expired(d, "notyet", 1, 30)
    key("selfsigned")
    ossl("req", "-x509", "-new", "-key", os.path.join(d, "selfsigned.key"), "-subj",
         "/CN=bench-selfsigned", "-days", "1", "-addext", "extendedKeyUsage=clientAuth",
         "-out", os.path.join(d, "selfsigned.pem"))


def expired(d, name="expired", start=-2, end=-1):
    """NAME.pem/.key: clientAuth, by the throw-away CA, valid from now+START to now+END days:
    expired yesterday by default (the openssl 3.0 CLI cannot back-date, so this one is made with
    python's cryptography)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    with open(os.path.join(d, "throwaway.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(d, "throwaway.pem"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-" + name)]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=start))
            .not_valid_after(now + datetime.timedelta(days=end))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(ca_key, hashes.SHA256()))
    with open(os.path.join(d, name + ".key"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(os.path.join(d, name + ".pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def start_brokers(tool, d, n):
    procs, ports = [], []
    for _ in range(n):
        p = bl.spawn([tool, "--port", "0", "--cert", os.path.join(d, "server.pem"), "--key",
                      os.path.join(d, "server.key"), "--ca-file", os.path.join(d, "ca.pem"),
                      "--require-client-cert"], stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL, text=True)
        procs.append(p)
    for p in procs:
        line = p.stdout.readline()
        if not line.startswith("PORT="):
            bl.die("test_broker did not report its port")
        ports.append(int(line.strip().split("=", 1)[1]))
    return procs, ports


def s_client_loop(d, ports):
    """One openssl s_client per handshake probe makes; returns (seconds, handshakes)."""
    ca = ["-CAfile", os.path.join(d, "ca.pem")]
    ident = {
        "none": [],
        "untrusted": ["-cert", os.path.join(d, "selfsigned.pem"), "-key",
                      os.path.join(d, "selfsigned.key")],
        "expired": ["-cert", os.path.join(d, "expired.pem"), "-key",
                    os.path.join(d, "expired.key"), "-cert_chain",
                    os.path.join(d, "throwaway.pem")],
        "valid": ["-cert", os.path.join(d, "client.pem"), "-key", os.path.join(d, "client.key")],
        "broker": ["-cert", os.path.join(d, "client.pem"), "-key", os.path.join(d, "client.key"),
                   "-verify_return_error", "-verify_hostname", "localhost"],
        "notyet": ["-cert", os.path.join(d, "notyet.pem"), "-key", os.path.join(d, "notyet.key"),
                   "-cert_chain", os.path.join(d, "throwaway.pem")],
        "legacy": ["-cert", os.path.join(d, "client.pem"), "-key", os.path.join(d, "client.key"),
                   "-cipher", "DEFAULT:@SECLEVEL=0"],
    }
    plan = ["none", "none", "untrusted", "expired", "valid", "broker", "notyet"]  # detect + 6
    n = 0

    def run():
        nonlocal n
        for port in ports:
            for ver in ("-tls1_2", "-tls1_3"):
                for case in plan:
                    subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                                    ver, "-brief", *ca, *ident[case]],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                    n += 1
            for ver in ("-tls1", "-tls1_1"):
                subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                                ver, "-brief", *ca, *ident["legacy"]],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                n += 1

    t, _ = bl.timed(run)
    return t, n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mskpkictl", required=True)
    ap.add_argument("--broker", required=True)
    ap.add_argument("--brokers", type=int, default=100)
    ap.add_argument("--concurrency", default="4,16")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-s-client", action="store_true")
    args = ap.parse_args()
    print("machine " + bl.machine(), flush=True)
    d = bl.tempdir("probe")
    make_pki(d)
    procs, ports = start_brokers(args.broker, d, args.brokers)
    boot = ",".join("127.0.0.1:%d" % p for p in ports)
    medians = {}
    for conc in [int(c) for c in args.concurrency.split(",")]:
        walls = []
        for _ in range(args.repeat):
            t, r = bl.timed(lambda: subprocess.run(
                [args.mskpkictl, "probe", "--bootstrap", boot, "--ca-file",
                 os.path.join(d, "ca.pem"), "--cert", os.path.join(d, "client.pem"), "--key",
                 os.path.join(d, "client.key"), "--format", "json", "--concurrency", str(conc)],
                capture_output=True, text=True))
            if r.returncode != 0:
                bl.die("mskpkictl probe exited %d: %s" % (r.returncode, r.stderr[-500:]))
            res = json.loads(r.stdout)["results"]
            ok = sum(1 for x in res if x["ok"])
            walls.append(t)
            print("figure=probe brokers=%d concurrency=%d results=%d ok=%d wall_s=%.3f" %
                  (len(ports), conc, len(res), ok, t), flush=True)
        medians[conc] = sorted(walls)[len(walls) // 2]
        print("summary=probe brokers=%d concurrency=%d wall_s=%s" %
              (len(ports), conc, bl.summary(walls)), flush=True)
    if not args.no_s_client:
        t, n = s_client_loop(d, ports)
        speed = " ".join("speedup_c%d=%.1f" % (c, t / m) for c, m in medians.items())
        print("figure=probe_s_client brokers=%d handshakes=%d wall_s=%.3f %s" %
              (len(ports), n, t, speed), flush=True)
    for p in procs:
        bl.stop(p)


if __name__ == "__main__":
    main()
