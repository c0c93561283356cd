#!/usr/bin/env python3
"""The hostile network process (agent/hostile.c, issue 16): with MSKPKI_TEST_HOSTILE=<attack>
(test builds only) the network process replays a compromised network process's attack through
the real link to the key process.  For each attack, as root and as the unprivileged user the
package runs the agent as (mskpki): the attack's log line says result=refused with the expected
reason, the key process logged one keyproc.refused line, mskpki_keyproc_refusals_total moved,
and nothing of value changed: every byte, link and mode under the output and CA directories is
as it was, and no file appeared there.

With aws-pca (moto): the first store pins the CA certificate in the output directory; a chain to
the attacker's root is then an anchor_change; a real change of CA is refused, logged and counted
at each rotation until ca.aws_pca.trust_anchor_file names the new CA, and then accepted (the pin
follows it)."""
import os
import pwd
import re
import signal
import subprocess
import sys

from agentlib import (Env, aws_test_environment, check, done, start_server,
                      wait_for)

SRC = os.environ.get("MSKPKI_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# attack -> the reason the key process gives ("-" when not the policy's: then the code).
LOCAL_ATTACKS = {
    "issue-foreign-key": "key",
    "issue-admin-cn": "subject",
    "issue-extra-san": "san",
    "issue-one-year": "validity",
    "issue-ten-years": "validity",
    "issue-replay": "replay",
    "store-attacker-root": "chain",
    "store-foreign-key": "key",
    "store-admin-cn": "subject",
    "store-extra-san": "san",
    "store-no-client-auth": "client_auth",
    "store-old-leaf": "key",
    "store-unprepared": "key",
    "revoke-current": "revoke_current",
}


def snapshot(*dirs):
    """Every entry under dirs: path -> (kind, mode, bytes or link target)."""
    out = {}
    for d in dirs:
        for root, subdirs, files in os.walk(d):
            for n in subdirs + files:
                p = os.path.join(root, n)
                st = os.lstat(p)
                if os.path.islink(p):
                    out[p] = ("link", st.st_mode, os.readlink(p))
                elif os.path.isdir(p):
                    out[p] = ("dir", st.st_mode, None)
                else:
                    with open(p, "rb") as f:
                        out[p] = ("file", st.st_mode, f.read())
    return out


def diff(before, after):
    return sorted(set(before) ^ set(after)) + sorted(p for p in before
                                                      if p in after and before[p] != after[p])


def hostile_lines(text):
    return {m.group(1): m.group(0) for m in re.finditer(r"event=hostile attack=(\S+) .*", text)}


def run_attacks(env, attacks, dirs, who, expect_reason_metric=True):
    """Runs the agent once per attack and checks each is refused and changes nothing."""
    for attack, reason in attacks.items():
        before = snapshot(*dirs)
        metric = {"name": "client", "reason": reason}
        agent = env.start(extra_env={"MSKPKI_TEST_HOSTILE": attack})
        wait_for(lambda: "event=hostile.done" in agent.text(), 60, "the attack %s" % attack)
        text = agent.text()
        line = hostile_lines(text).get(attack)
        check(line is not None, "%s (%s): no hostile line; log:\n%s" % (attack, who, text))
        check("result=refused" in line and "reason=%s " % reason in line,
              "%s (%s): want result=refused reason=%s, got: %s" % (attack, who, reason, line))
        refused = [l for l in text.splitlines() if "event=keyproc.refused" in l]
        # A CSR for a key it never made names no block: the key process cannot tell which.
        name = "name=-" if attack == "issue-foreign-key" else "name=client"
        check(len(refused) == 1 and "reason=%s " % reason in refused[0] and name in refused[0],
              "%s (%s): keyproc.refused lines: %r" % (attack, who, refused))
        if expect_reason_metric:
            got = env.metric("mskpki_keyproc_refusals_total", metric)
            check(got == 1, "%s (%s): mskpki_keyproc_refusals_total%r = %r"
                  % (attack, who, metric, got))
        check("event=rotation.success" not in text, "%s (%s): a rotation ran" % (attack, who))
        agent.stop()
        changed = diff(before, snapshot(*dirs))
        check(not changed, "%s (%s): changed or new files: %r" % (attack, who, changed))
        print("ok: %s (%s): refused, reason=%s, nothing changed" % (attack, who, reason))


def local_env():
    """A local-CA env whose outputs include a PKCS#12 (its password file hidden too)."""
    e = Env(validity="1h", fraction="0.9", jitter="0")
    pw = os.path.join(e.tmp, "p12.pass")
    with open(pw, "w") as f:
        f.write("hostile-test-p12\n")
    os.chmod(pw, 0o600)
    e.output_extra = 'pkcs12 = "client.p12"; pkcs12_password_file = "%s";' % pw
    e.write_config()
    return e


def first_issuance(env, who):
    agent = env.start()
    wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "client"}) == 1, 60,
             "the first certificate (%s)" % who)
    agent.stop()


# ---- local CA, as root ------------------------------------------------------------------------
env = local_env()
first_issuance(env, "root")
check(os.path.exists(env.out("client", "client.p12")), "no PKCS#12 written")
run_attacks(env, LOCAL_ATTACKS, [os.path.join(env.tmp, "out"), env.ca_dir], "root")

# ---- local CA, as the package's unprivileged user ---------------------------------------------
if os.geteuid() == 0:
    try:
        user = pwd.getpwnam("mskpki")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "mskpki"], check=True)
        user = pwd.getpwnam("mskpki")
    uenv = local_env()
    for root, dirs, files in os.walk(uenv.tmp):
        for n in [root] + [os.path.join(root, x) for x in dirs + files]:
            os.lchown(n, user.pw_uid, user.pw_gid)
    uenv.prefix = ["setpriv", "--reuid=%d" % user.pw_uid, "--regid=%d" % user.pw_gid,
                   "--clear-groups", "--"]
    first_issuance(uenv, "mskpki")
    check(os.stat(uenv.out("client", "client.key")).st_uid == user.pw_uid,
          "the key is not the unprivileged user's")
    run_attacks(uenv, LOCAL_ATTACKS, [os.path.join(uenv.tmp, "out"), uenv.ca_dir], "mskpki")
else:
    print("note: not root: the attacks ran as uid %d only" % os.geteuid())

# ---- aws-pca (moto): the pinned anchor -------------------------------------------------------
aws_test_environment()
penv = Env(validity="1d", fraction="0.9", jitter="0", hook=False)
_, mport = start_server([sys.executable, os.path.join(SRC, "tests/support/moto_server.py"),
                         os.path.join(penv.tmp, "moto.port")],
                        open(os.path.join(penv.tmp, "moto.log"), "w"),
                        port_file=os.path.join(penv.tmp, "moto.port"))
url = "http://127.0.0.1:%d" % mport
r = subprocess.run([sys.executable, os.path.join(SRC, "tests/pca/make_ca.py"), url, "root",
                    "root"], capture_output=True, text=True)
check(r.returncode == 0, "make_ca.py: %s" % r.stderr)
arn1, arn2 = [line.split()[1] for line in r.stdout.splitlines()]


def pca_block(arn, extra=""):
    return ('ca = { backend = "aws-pca"; aws_pca = { ca_arn = "%s"; region = "us-east-1"; '
            'endpoint_url = "%s"; %s }; };' % (arn, url, extra))


def ca_pem(arn):
    import boto3
    pca = boto3.client("acm-pca", endpoint_url=url, region_name="us-east-1")
    return pca.get_certificate_authority_certificate(CertificateAuthorityArn=arn)["Certificate"]


def pem_der(text):
    r = subprocess.run(["openssl", "x509", "-outform", "DER"], input=text.encode(),
                       capture_output=True, check=True)
    return r.stdout


penv.ca_block = pca_block(arn1)
penv.write_config()
agent = penv.start()
wait_for(lambda: penv.metric("mskpki_certificate_ready", {"name": "client"}) == 1, 90,
         "the first certificate from moto")
pin = penv.out("client", ".trust-anchor.pem")
check(os.path.exists(pin), "no pinned anchor after the first store")
check(pem_der(open(pin).read()) == pem_der(ca_pem(arn1)), "the pin is not the CA's certificate")
check("event=keyproc.anchor_pinned" in agent.text() and "source=first_use" in agent.text(),
      "no anchor_pinned line")
agent.stop()
out_dir = os.path.join(penv.tmp, "out")
run_attacks(penv, {"store-attacker-root": "anchor_change", "store-foreign-key": "key",
                   "store-admin-cn": "subject"}, [out_dir], "aws-pca")

# An agent upgraded on a host with outputs has no pin yet: the stored chain, not the offered
# one, is the first issuance's; the next good store pins it.
pin_bytes = open(pin, "rb").read()
os.unlink(pin)
run_attacks(penv, {"store-attacker-root": "chain"}, [out_dir], "aws-pca, no pin yet")
check(not os.path.exists(pin), "a refused store wrote a pin")
agent = penv.start()
agent.signal(signal.SIGUSR1)
wait_for(lambda: "event=rotation.success" in agent.text(), 60, "a rotation to re-pin")
agent.stop()
check(open(pin, "rb").read() == pin_bytes, "the pin was not re-made from the stored chain")

# A real change of CA: refused at every rotation until the configuration names the new anchor.
before = snapshot(out_dir)
penv.ca_block = pca_block(arn2)
penv.write_config()
agent = penv.start(extra_env={})
agent.signal(signal.SIGUSR1)
wait_for(lambda: agent.text().count("reason=anchor_change") >= 2, 60,
         "a rotation refused for the new CA")
check("event=rotation.failure" in agent.text() and "reason=anchor_change" in
      [l for l in agent.text().splitlines() if "event=rotation.failure" in l][0],
      "no rotation.failure with reason=anchor_change")
wait_for(lambda: (penv.metric("mskpki_keyproc_refusals_total",
                              {"name": "client", "reason": "anchor_change"}) or 0) >= 1, 30,
         "the anchor_change refusal metric")
current = {p: v for p, v in before.items() if not os.path.basename(p).startswith(".pending")}
now = {p: v for p, v in snapshot(out_dir).items() if not os.path.basename(p).startswith(".pending")}
check(not diff(current, now), "the refused CA change touched the outputs: %r" % diff(current, now))
with open(os.path.join(penv.tmp, "ca2.pem"), "w") as f:
    f.write(ca_pem(arn2) + "\n")
penv.ca_block = pca_block(arn2, 'trust_anchor_file = "%s/ca2.pem";' % penv.tmp)
penv.write_config()
agent.signal(signal.SIGHUP)
agent.signal(signal.SIGUSR1)
wait_for(lambda: "event=rotation.success" in agent.text(), 60,
         "the rotation once the new anchor is configured")
check("source=config" in agent.text(), "the pin did not follow the configured anchor")
check(pem_der(open(pin).read()) == pem_der(ca_pem(arn2)), "the pin is not the new CA")
agent.stop()
done("hostile")
