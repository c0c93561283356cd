#!/usr/bin/env python3
"""Configuration edits by rename reload (issue 17, item 2).

The quick start's layout: mskpki.conf (root:mskpki 0640) beside the PKCS#12 password file in one
directory.  Started as root, the network process runs as mskpki under Landlock, which keeps the
secret file out of its reach and allows the configuration by inode: an edit the way sed -i,
editors and Ansible make it (a new file renamed over the old) used to make every SIGHUP fail with
"cannot open: Permission denied".  The supervisor now reads the file for it.  Here: a good edit
by rename takes effect (a new certificate is issued), a broken one keeps the old configuration
with exactly one log line naming file:line, and a missing file with one line naming the cause;
the network process still cannot read the password file.  Both sandboxes: Landlock, and the
mount namespace fallback of a kernel without it (MSKPKI_TEST_NO_LANDLOCK=1, test builds)."""
import os
import pwd
import signal
import sys

from agentlib import Env, check, done, wait_for

if os.geteuid() != 0:
    print("SKIP: needs root (CI runs the tests as root)")
    sys.exit(77)
MSKPKI = pwd.getpwnam("mskpki")


def run(mode_env):
    env = Env(validity="1h", hook=False)
    etc = os.path.join(env.tmp, "etc", "mskpki")
    os.makedirs(etc, 0o755)
    passfile = os.path.join(etc, "producer.p12.pass")
    with open(passfile, "w") as f:
        f.write("s3cret-password\n")
    # root's alone: the key process (root here) reads it; root:mskpki 0640 is the quick start's
    # for an agent run as mskpki (the packaged unit), which the secret-file check decides.
    os.chmod(passfile, 0o600)
    env.output_extra = ('pkcs12 = "client.p12"; pkcs12_password_file = "%s";' % passfile)
    env.conf = os.path.join(etc, "mskpki.conf")

    def edit_by_rename(text):
        """What sed -i does: a new file, then rename(2) over the old one."""
        tmp = os.path.join(etc, ".mskpki.conf.new")
        with open(tmp, "w") as f:
            f.write(text)
        os.chown(tmp, 0, MSKPKI.pw_gid)
        os.chmod(tmp, 0o640)
        os.rename(tmp, env.conf)


    edit_by_rename(env.config_text())
    os.chmod(env.tmp, 0o711)
    agent = env.start(extra_env=dict(mode_env, MSKPKI_TEST_PROBE="open:" + passfile))
    wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "client"}) == 1, 60, "ready")
    check(os.path.exists(env.out("client", "client.p12")), "no keystore written")

    # 1. A good edit by rename: a second certificate block, issued after SIGHUP.
    edit_by_rename(env.config_text(names=["client", "second"]))
    agent.signal(signal.SIGHUP)
    wait_for(lambda: env.metric("mskpki_certificate_ready", {"name": "second"}) == 1
             or "event=config.reload_failed" in agent.text(), 60, "the second certificate")
    log = agent.text()
    check("event=config.reload_failed" not in log, "an edit by rename failed to reload:\n" + log)
    check("event=config.reloaded" in log, "no config.reloaded line:\n" + log)

    # 2. A broken edit by rename: one line naming file:line, the old configuration kept.
    good = env.config_text(names=["client", "second"])
    broken = good + "\ncertificates = ( oops\n"
    line_no = broken.count("\n", 0, broken.index("oops")) + 1
    edit_by_rename(broken)
    before = agent.text().count("event=config.reload_failed")
    agent.signal(signal.SIGHUP)
    wait_for(lambda: agent.text().count("event=config.reload_failed") > before, 30, "the failure")
    lines = [l for l in agent.text().splitlines() if "config.reload_failed" in l]
    check(len(lines) - before == 1, "not exactly one failure line:\n%s" % "\n".join(lines))
    check("%s:%d:" % (env.conf, line_no) in lines[-1] and "Permission denied" not in lines[-1],
          "the line does not name %s:%d: %s" % (env.conf, line_no, lines[-1]))
    check(env.metric("mskpki_certificate_ready", {"name": "second"}) == 1, "old config lost")
    agent.alive_or_fail()

    # 2b. A hook the supervisor cannot trust (in /tmp): refused with one line, and neither the
    # supervisor nor the network process takes the new configuration.
    untrusted = env.config_text(names=["client", "second", "third"]).replace(
        'name = "third";', 'name = "third"; hook = { command = [ "/tmp/mskpki-untrusted" ]; };')
    edit_by_rename(untrusted)
    before = len(lines)
    agent.signal(signal.SIGHUP)
    wait_for(lambda: agent.text().count("event=config.reload_failed") > before, 30, "the failure")
    lines = [l for l in agent.text().splitlines() if "config.reload_failed" in l]
    check(len(lines) - before == 1 and "/tmp" in lines[-1],
          "not one failure line naming /tmp:\n%s" % "\n".join(lines))
    check("config.reload_refused" not in agent.text(), "a second line from the supervisor")
    check(env.metric("mskpki_certificate_ready", {"name": "third"}) is None,
          "the refused configuration was applied")

    # 3. The file gone (an rm before the rename): one line naming the real cause.
    os.unlink(env.conf)
    before = len(lines)
    agent.signal(signal.SIGHUP)
    wait_for(lambda: agent.text().count("event=config.reload_failed") > before, 30, "the failure")
    lines = [l for l in agent.text().splitlines() if "config.reload_failed" in l]
    check(len(lines) - before == 1, "not exactly one failure line:\n%s" % "\n".join(lines))
    check("No such file or directory" in lines[-1] and env.conf in lines[-1],
          "the line does not say the file is missing: %s" % lines[-1])
    check(env.metric("mskpki_certificate_ready", {"name": "second"}) == 1, "old config lost")

    # 4. Back by rename: the reload works again, no restart needed.
    edit_by_rename(good)
    n = agent.text().count("event=config.reloaded")
    agent.signal(signal.SIGHUP)
    wait_for(lambda: agent.text().count("event=config.reloaded") > n, 30, "a reload after the fix")

    # The secret beside the configuration stays out of the network process's reach.
    probe = [l for l in agent.text().splitlines() if "event=test.probe" in l and passfile in l]
    check(probe and "errno=0" not in probe[0], "the network process could read %s: %r"
          % (passfile, probe))
    agent.stop()


run({})
run({"MSKPKI_TEST_NO_LANDLOCK": "1"})
done("reload_rename")
