#!/usr/bin/env bash
# The probe and audit units (packaging/) pass `systemd-analyze verify` without a single warning:
# copies in a temp dir, ExecStart pointing at the built mskpkictl, EnvironmentFile at copies of
# packaging/default/.  The installed units are verified again by tests/packaging/test_deb.sh.
# Also checks the checker: a broken timer value must be reported.
set -euo pipefail
src=${MSKPKI_SOURCE_DIR:?}
ctl=${1:?usage: units_test.sh MSKPKICTL}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mskpki-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

verify() { # verify UNIT...: fails on a non-zero exit or any message
    local out rc=0
    out=$(systemd-analyze verify --man=no "$@" 2>&1) || rc=$?
    [ "$rc" -eq 0 ] && [ -z "$out" ]
}

for name in probe audit; do
    for kind in service timer; do
        cp "$src/packaging/mskpki-$name.$kind" "$tmp/"
    done
    cp "$src/packaging/default/mskpki-$name" "$tmp/default-$name"
    sed -i -e "s|/usr/bin/mskpkictl|$ctl|" -e "s|/etc/default/mskpki-$name|$tmp/default-$name|" \
        "$tmp/mskpki-$name.service"
    grep -q "^ExecStart=$ctl $name " "$tmp/mskpki-$name.service" || fail "$name: ExecStart"
    grep -q "^Unit=mskpki-$name.service" "$tmp/mskpki-$name.timer" || fail "$name: Unit="
    grep -q "^WantedBy=timers.target" "$tmp/mskpki-$name.timer" || fail "$name: [Install]"
    verify "$tmp/mskpki-$name.timer" "$tmp/mskpki-$name.service" ||
        fail "systemd-analyze verify mskpki-$name: $(systemd-analyze verify --man=no \
            "$tmp/mskpki-$name.timer" "$tmp/mskpki-$name.service" 2>&1)"
    # The settings file is shell-style KEY=value with the variables the service uses.
    (set -a; . "$tmp/default-$name"; env) | grep -q "^MSKPKI_${name^^}_ARGS=." ||
        fail "default-$name lacks MSKPKI_${name^^}_ARGS"
    (set -a; . "$tmp/default-$name"; env) | grep -q "^MSKPKI_${name^^}_OUTPUT=/var/lib/mskpki/" ||
        fail "default-$name lacks MSKPKI_${name^^}_OUTPUT"
done
# Hardened like the agent: the same sandbox lines.
for line in User=mskpki ProtectSystem=strict ReadWritePaths=/var/lib/mskpki NoNewPrivileges=yes \
    CapabilityBoundingSet= PrivateUsers=yes; do
    grep -qx "$line" "$tmp/mskpki-probe.service" || fail "probe service lacks $line"
    grep -qx "$line" "$tmp/mskpki-audit.service" || fail "audit service lacks $line"
done
# The prometheus output goes where the textfile collector directory is made by tmpfiles.
grep -q '^MSKPKI_PROBE_OUTPUT=/var/lib/mskpki/textfile/' "$tmp/default-probe" || fail "output path"
grep -q '^MSKPKI_AUDIT_TEXTFILE=/var/lib/mskpki/textfile/' "$tmp/default-audit" ||
    fail "audit textfile"
# The audit writes its metrics even when the JSON run found something (that run's exit 1 is
# ignored), and the metrics run's own status decides the unit's.
audit_unit=$src/packaging/mskpki-audit.service
grep -q '^ExecStart=-/usr/bin/mskpkictl audit .*--format json ' "$audit_unit" ||
    fail "audit json step must not stop the unit"
grep -q '^ExecStart=/usr/bin/mskpkictl audit .*--format prometheus --output ${MSKPKI_AUDIT_TEXTFILE}' \
    "$audit_unit" || fail "audit prometheus step"
grep -q '^d /var/lib/mskpki/textfile ' "$src/packaging/tmpfiles.conf" || fail "tmpfiles textfile"
# Both audit runs keep their history in the state directory (issue 18).
grep -q '^MSKPKI_AUDIT_HISTORY=/var/lib/mskpki/' "$tmp/default-audit" || fail "audit history path"
[ "$(grep -c '^ExecStart=.*--history ${MSKPKI_AUDIT_HISTORY} ' "$audit_unit")" = 2 ] ||
    fail "audit runs without --history"

sed -i 's/^OnUnitActiveSec=.*/OnUnitActiveSec=bogus/' "$tmp/mskpki-probe.timer"
if verify "$tmp/mskpki-probe.timer"; then
    fail "a broken timer passed the check"
fi
echo "PASS: probe and audit units"
