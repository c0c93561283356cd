#!/usr/bin/env python3
"""test_config_defaults.py: every default docs/config.md states is the one the code applies.

Usage: test_config_defaults.py SOURCE_DIR CONF_DEFAULTS

CONF_DEFAULTS (tests/tools/conf_defaults.c) loads a configuration that sets nothing optional and
prints what conf_load() filled in, keyed by dotted setting names.  This test reads the tables of
docs/config.md (the Default column; the top-level groups' defaults from their Meaning text), and:

* every literal default (a cell that is one `value`) must equal the code's, for settings
  conf_load() resolves, or be found in the source that applies it (the backend's own defaults);
* every setting conf_load() defaults must have its default stated in the doc;
* the same defaults in docs/aws-pca.md, docs/metrics.md and mskpki.conf(5) agree.

A table under a heading the test does not know fails it: new settings cannot slip past.
Ends with "N passed, N failed".
"""
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT, TOOL = sys.argv[1], sys.argv[2]

# Heading (without backticks) -> the dotted prefix of the settings in its table.
SECTIONS = {
    "Top level": "", "metrics": "metrics.", "ca": "ca.", "ca.local": "ca.local.",
    "ca.aws_pca": "ca.aws_pca.", "ca.aws_pca.roles_anywhere": "ca.aws_pca.roles_anywhere.",
    "certificates": "certificates.", "renew": "certificates.renew.",
    "output": "certificates.output.", "hook": "certificates.hook.",
}
# Literal defaults applied outside conf_load(): (source file, what must appear there).
ELSEWHERE = {
    "ca.aws_pca.template_arn": ("ca/aws_pca.c", lambda v: '"%s"' % v),
    "ca.aws_pca.roles_anywhere.duration": (
        "conf/conf.c", lambda v: "#define CONF_RA_DEFAULT_DURATION %d" % seconds(v)),
    "ca.aws_pca.roles_anywhere.endpoint_url": (
        "aws/rolesanywhere.c",
        lambda v: '"%s", RA_SERVICE, region' % v.replace("rolesanywhere.REGION", "%s.%s")),
    "ca.aws_pca.credential_process_timeout": (
        "aws/creds.c", lambda v: "#define PROCESS_TIMEOUT_MS %d" % (seconds(v) * 1000)),
}
# conf_load() defaults the doc states in words, checked here against another default.
IN_WORDS = {"ca.local.max_validity": ("the longest certificate `validity`",
                                      "certificates.validity")}

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok  ", what)
    else:
        failed += 1
        print("FAIL", what)


def seconds(v):
    m = re.fullmatch(r"(\d+)([smhd])", v)
    if not m:
        raise ValueError("not a duration: %r" % v)
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def unquote(v):
    return v[1:-1] if len(v) >= 2 and v[0] == v[-1] == '"' else v


def doc_tables(text):
    """{dotted setting: default cell} from every table, with the Meaning cell for groups."""
    out, meaning = {}, {}
    section = None
    header = None
    for line in text.splitlines():
        h = re.match(r"^#{2,3} (.+)$", line)
        if h:
            section = h.group(1).replace("`", "").strip()
            header = None
            continue
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if set(line) <= set("|-: "):
            continue
        if "Default" not in header:
            continue
        if section not in SECTIONS:
            check(False, "docs/config.md: a settings table under '%s', unknown to this test"
                  % section)
            continue
        names = re.findall(r"`([a-z_0-9]+)`", cells[0])
        for n in names:
            key = SECTIONS[section] + n
            out[key] = cells[header.index("Default")]
            meaning[key] = cells[header.index("Meaning")] if "Meaning" in header else ""
    return out, meaning


def main():
    with open(os.path.join(ROOT, "docs", "config.md"), encoding="utf-8") as f:
        text = f.read()
    doc, meaning = doc_tables(text)
    # Two loads, so that no file on this host matters: A names the local CA directory (the
    # default one may hold an old CA that conf_load() refuses), B names state_dir and leaves the
    # CA directory to its default beside it.
    cert = ('certificates = ( { name = "c"; subject = { common_name = "x"; };\n'
            '  output = { directory = "/nonexistent/out"; key = "k.pem"; cert = "c.pem"; }; } );\n')
    loaded = []
    with tempfile.TemporaryDirectory() as tmp:
        for extra in ('ca = { local = { directory = "/nonexistent/mskpki-ca"; }; };\n',
                      'state_dir = "/nonexistent/state";\n'):
            conf = os.path.join(tmp, "minimal.conf")
            with open(conf, "w") as f:
                f.write(extra + cert)
            r = subprocess.run([TOOL, conf], capture_output=True, text=True, timeout=60)
            check(r.returncode == 0, "conf_defaults ran: " + r.stderr.strip())
            if r.returncode != 0:
                return 1
            loaded.append(json.loads(r.stdout))
    code = loaded[0]
    code["ca.local.directory"] = loaded[1]["ca.local.directory"]
    state_dir_b = loaded[1]["state_dir"]

    # The top-level groups state their members' defaults in the Meaning text.
    groups = {
        "metrics.listen": (r'default `"([^`"]*)"`', "metrics"),
        "log.level": (r"`(\w+)` \(default\)", "log"),
        "log.target": (r"`target`: `(\w+)` \(default", "log"),
        "retry.min": (r'`min` \(default `"([^`"]+)"`\)', "retry"),
        "retry.max": (r'`max` \(default `"([^`"]+)"`\)', "retry"),
        "agent.user": (r'default `"([^`"]+)"`', "agent"),
    }
    for key, (rx, row) in groups.items():
        m = re.search(rx, meaning.get(row, ""))
        check(m is not None, "docs/config.md: the `%s` row states the default of %s" % (row, key))
        if m:
            doc[key] = "`%s`" % m.group(1)

    compared = set()
    for key, cell in sorted(doc.items()):
        lit = re.fullmatch(r"`([^`]+)`(\s*\(.*\))?", cell)
        if key in IN_WORDS:
            words, other = IN_WORDS[key]
            check(words in cell and code[key] == code[other],
                  "%s: '%s' (%s = %s)" % (key, words, code[key], code[other]))
            compared.add(key)
            continue
        if lit is None:
            continue  # required, none, or a description (environment, the CA's own, ...)
        value = unquote(lit.group(1))
        if key in ELSEWHERE:
            path, needle = ELSEWHERE[key]
            with open(os.path.join(ROOT, path), encoding="utf-8") as f:
                src = f.read()
            check(needle(value) in src, "%s: doc `%s` is %s's default" % (key, value, path))
            continue
        if key not in code:
            check(False, "%s: docs/config.md states default `%s`; conf_defaults does not report "
                  "it (add it there or to ELSEWHERE)" % (key, value))
            continue
        want = code[key]
        compared.add(key)
        if isinstance(want, bool):
            ok = value == ("true" if want else "false")
        elif isinstance(want, float):
            ok = abs(float(value) - want) < 5e-5
        elif isinstance(want, int) and re.fullmatch(r"\d+[smhd]", value):
            ok = seconds(value) == want
        elif isinstance(want, int):
            ok = value.isdigit() and int(value) == want
        else:
            ok = value.replace("<state_dir>", state_dir_b) == want
        check(ok, "%s: docs/config.md says `%s`, the code %r" % (key, value, want))
    missing = sorted(set(code) - compared)
    check(not missing, "every default conf_load() applies is stated in docs/config.md %s"
          % (missing or ""))

    # The same defaults elsewhere.
    def read(*p):
        with open(os.path.join(ROOT, *p), encoding="utf-8") as f:
            return f.read()
    pca = read("docs", "aws-pca.md")
    row = re.search(r"^\| `signing_algorithm` \| ([^|]+) \|", pca, re.M)
    check(row and row.group(1).strip() == doc["ca.aws_pca.signing_algorithm"],
          "signing_algorithm: the same default in docs/aws-pca.md and docs/config.md")
    m = re.search(r"^\| `rate_per_second`, `burst` \| ([\d.]+), (\d+) \|", pca, re.M)
    check(m and float(m.group(1)) == code["ca.aws_pca.rate_per_second"]
          and int(m.group(2)) == code["ca.aws_pca.burst"], "docs/aws-pca.md: rate and burst")
    m = re.search(r"^\| `poll_timeout_seconds` \| (\d+) \|", pca, re.M)
    check(m and int(m.group(1)) == code["ca.aws_pca.poll_timeout"], "docs/aws-pca.md: poll")
    m = re.search(r"`metrics.listen` \(default `([^`]+)`", read("docs", "metrics.md"))
    check(m and m.group(1) == code["metrics.listen"], "docs/metrics.md: metrics.listen")
    man = read("packaging", "man", "mskpki.conf.5")
    m = re.search(r"default (\d+[smhd]), capped at (\d+[smhd])", man)
    check(m and seconds(m.group(1)) == code["retry.min"]
          and seconds(m.group(2)) == code["retry.max"], "mskpki.conf(5): retry")
    m = re.search(r"state files \(default\n\.IR (\S+) \)", man)
    check(m and m.group(1) == code["state_dir"], "mskpki.conf(5): state_dir")
    check("<state_dir>-ca" in man and code["ca.local.directory"] == state_dir_b + "-ca",
          "mskpki.conf(5): the local CA directory")
    m = re.search(r"default\n\.BR \\\(dq([^\\]+)\\\(dq ;", man)
    check(m and m.group(1) == code["metrics.listen"], "mskpki.conf(5): metrics.listen")
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
