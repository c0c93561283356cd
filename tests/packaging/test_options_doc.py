#!/usr/bin/env python3
"""One source for option lists: every long option that a command's --help shows is in its man
page's synopsis for that command, and the other way round; the bash completions (which read
--help) offer exactly those options.

Usage: test_options_doc.py SOURCE_DIR MSKPKI_AGENT MSKPKICTL
"""
import os
import re
import subprocess
import sys

OPT = re.compile(r"--[a-z][a-z0-9-]*")
# What --help, --version and the man page's own notes name but are not options of a command.
IGNORE = {"--help", "--version"}


def help_options(argv):
    out = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise SystemExit(f"FAIL {' '.join(argv)} --help exited {out.returncode}")
    # Only the usage block (up to the first blank line) lists a command's own options.
    usage = out.stdout.split("\n\n")[0]
    return set(OPT.findall(usage)) - IGNORE, out.stdout


def man_synopsis_blocks(path):
    """{command words: set of options} from the man page's SYNOPSIS, one block per .B line that
    starts a command."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    syn = text.split(".SH SYNOPSIS", 1)[1].split("\n.SH ", 1)[0]
    blocks, current = {}, None
    for line in syn.splitlines():
        m = re.match(r"^\.B (mskpki(?:ctl|-agent))((?: [a-z]+)*)(.*)$", line)
        if m:
            current = (m.group(1) + m.group(2)).strip()
            blocks.setdefault(current, set())
            line = m.group(3)
        if current is None:
            continue
        blocks[current] |= set(OPT.findall(line.replace("\\-", "-")))
    return {k: v - IGNORE for k, v in blocks.items()}


def completion_options(script, func, words):
    """What the bash completion offers after `words --`."""
    line = " ".join(words + ["--"])
    cmd = (f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words)}; "
           f"{func}; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PATH": os.environ["PATH"]})
    return set(out.stdout.split()) - IGNORE


def main():
    root, agent, ctl = sys.argv[1:4]
    man = os.path.join(root, "packaging", "man")
    ctl_man = man_synopsis_blocks(os.path.join(man, "mskpkictl.8"))
    agent_man = man_synopsis_blocks(os.path.join(man, "mskpki-agent.8"))
    failed = passed = 0

    def check(cond, what):
        nonlocal failed, passed
        if cond:
            passed += 1
            print("ok  ", what)
        else:
            failed += 1
            print("FAIL", what)

    commands = [("mskpki-agent", [agent], agent_man, "mskpki-agent")]
    for sub in (["audit"], ["probe"], ["status"], ["cert", "inspect"], ["cert", "issue"],
                ["cert", "revoke"]):
        commands.append((" ".join(["mskpkictl"] + sub), [ctl] + sub, ctl_man,
                         " ".join(["mskpkictl"] + sub)))
    # Extra subcommands appear in --help's command list; each must be in the man page too.
    listed = subprocess.run([ctl, "--help"], capture_output=True, text=True).stdout
    in_list = re.findall(r"^  ([a-z]+) ", listed.split("commands:", 1)[1], re.M)
    for sub in in_list:
        if sub not in ("audit", "probe", "status", "cert"):
            commands.append((f"mskpkictl {sub}", [ctl, sub], ctl_man, f"mskpkictl {sub}"))

    for label, argv, blocks, key in commands:
        opts, _ = help_options(argv)
        documented = set()
        for k, v in blocks.items():
            if k == key or (key == "mskpki-agent" and k.startswith("mskpki-agent")):
                documented |= v
        check(key in blocks or key == "mskpki-agent", f"{label}: has a SYNOPSIS entry")
        missing = sorted(opts - documented)
        extra = sorted(documented - opts)
        check(not missing, f"{label}: every --help option is in the man page {missing or ''}")
        check(not extra, f"{label}: the man page names no option --help lacks {extra or ''}")
        script = os.path.join(root, "packaging", "completion",
                              "mskpki-agent" if key == "mskpki-agent" else "mskpkictl")
        func = "_mskpki_agent" if key == "mskpki-agent" else "_mskpkictl"
        words = [argv[0]] + argv[1:]
        offered = completion_options(script, func, words)
        check(opts <= offered, f"{label}: bash completion offers every option "
              f"{sorted(opts - offered) or ''}")
    # Every audit check id that --help lists is named in the man page.
    _, audit_help = help_options([ctl, "audit"])
    ids = re.findall(r"^  ([a-z]+\.[a-z_]+) ", audit_help, re.M)
    with open(os.path.join(man, "mskpkictl.8"), encoding="utf-8") as f:
        man_text = f.read()
    check(ids and all(i in man_text for i in ids),
          f"mskpkictl.8 names every audit check {[i for i in ids if i not in man_text] or ''}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
