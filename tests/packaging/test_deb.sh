#!/usr/bin/env bash
# Builds the .deb from a release build, installs it with dpkg, checks what it installed (user,
# directories, modes, config, unit, man pages, --check-config on the default config), then purges
# it and checks that nothing is left.  Needs root, as CI and the README commands run.
set -euo pipefail
src=${MSKPKI_SOURCE_DIR:?}
build=${MSKPKI_BUILD_DIR:?}/pkg-release

fail() { echo "FAIL: $*" >&2; exit 1; }

if dpkg-query -W -f='${Status}' mskpki 2>/dev/null | grep -q "ok installed"; then
    fail "mskpki is already installed on this machine; refusing to replace it"
fi

cmake -S "$src" -B "$build" -DMSKPKI_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls "$build"/mskpki_*.deb | head -1)
[ -f "$deb" ] || fail "no .deb built"

purge() { dpkg --purge mskpki >/dev/null 2>&1 || true; }
trap purge EXIT

# Declared dependencies come from the shared libraries the binaries use.
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libssl3 libcurl4 libconfig9 libsodium23 libjansson4 libmicrohttpd12; do
    echo "$depends" | grep -q "$lib" || fail "Depends lacks $lib: $depends"
done
dpkg-deb -f "$deb" Conffiles 2>/dev/null | grep -q /etc/mskpki/mskpki.conf || \
    dpkg-deb -I "$deb" conffiles | grep -q /etc/mskpki/mskpki.conf || fail "config is not a conffile"

dpkg -i "$deb" >/dev/null

[ -x /usr/sbin/mskpki-agent ] || fail "agent not in /usr/sbin"
[ -x /usr/bin/mskpkictl ] || fail "mskpkictl not in /usr/bin"
getent passwd mskpki >/dev/null || fail "no mskpki user"
[ "$(stat -c '%a %U' /var/lib/mskpki)" = "750 mskpki" ] || fail "state dir: $(stat -c '%a %U' /var/lib/mskpki)"
[ "$(stat -c '%a %G' /etc/mskpki/mskpki.conf)" = "640 mskpki" ] || fail "config mode"
/usr/sbin/mskpki-agent --check-config --config /etc/mskpki/mskpki.conf || fail "default config rejected"
/usr/bin/mskpkictl --version >/dev/null || fail "mskpkictl --version"
for c in mskpkictl mskpki-agent; do
    [ -f /usr/share/bash-completion/completions/$c ] || fail "no bash completion for $c"
done
# The installed completion offers the installed program's options.
offered=$(bash -c 'source /usr/share/bash-completion/completions/mskpkictl
    COMP_WORDS=(mskpkictl probe --); COMP_CWORD=2; _mskpkictl; printf "%s\n" "${COMPREPLY[@]}"')
echo "$offered" | grep -qx -- --bootstrap || fail "completion does not offer probe --bootstrap"

# The packaged default works as installed: as the mskpki user, in the directories tmpfiles made,
# the agent issues a certificate from the local CA, and status reads its state.
runuser -u mskpki -- /usr/sbin/mskpki-agent --once --config /etc/mskpki/mskpki.conf 2>/dev/null ||
    fail "the installed agent could not issue with the default config"
out=/var/lib/mskpki/certs/client
[ "$(stat -L -c '%a %U' "$out/client.key")" = "600 mskpki" ] || fail "key: $(stat -L -c '%a %U' "$out/client.key")"
openssl verify -purpose sslclient -CAfile "$out/ca.crt" "$out/client.crt" >/dev/null || fail "issued cert does not verify"
runuser -u mskpki -- /usr/bin/mskpkictl status --config /etc/mskpki/mskpki.conf >/dev/null ||
    fail "mskpkictl status on the installed agent"

systemd-analyze verify /usr/lib/systemd/system/mskpki-agent.service || fail "systemd-analyze verify"
for unit in /usr/lib/systemd/system/mskpki-*.timer; do
    [ -e "$unit" ] || continue
    systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
done
# The probe and audit timers ship with their services and settings, and stay disabled.
for name in probe audit; do
    for kind in service timer; do
        unit=/usr/lib/systemd/system/mskpki-$name.$kind
        [ -f "$unit" ] || fail "$unit not installed"
        systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
    done
    [ ! -e "/etc/systemd/system/timers.target.wants/mskpki-$name.timer" ] ||
        fail "mskpki-$name.timer is enabled by the package"
    [ -f "/etc/default/mskpki-$name" ] || fail "/etc/default/mskpki-$name not installed"
done
[ -d /var/lib/mskpki/textfile ] || fail "no /var/lib/mskpki/textfile"
score=$(systemd-analyze security --offline=true /usr/lib/systemd/system/mskpki-agent.service 2>/dev/null |
    sed -n 's/.*Overall exposure level for mskpki-agent.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security exposure: $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s < 2.0) }' || fail "exposure $score is not below 2.0"

for page in mskpki-agent.8 mskpkictl.8 mskpki.conf.5; do
    f=$(find /usr/share/man -name "$page*" | head -1)
    [ -n "$f" ] || fail "man page $page not installed"
    warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
    [ -z "$warnings" ] || fail "man --warnings $page: $warnings"
done

# An upgrade to a newer version keeps the config the admin edited (a conffile: dpkg keeps it
# without asking, so no --force-conf* option and no terminal) and the local CA with what it issued.
# The newer package is the same build repacked with a higher version.
echo "# edited by the admin" >>/etc/mskpki/mskpki.conf
ca_before=$(openssl x509 -noout -fingerprint -sha256 -in /var/lib/mskpki/ca/ca.crt)
rm -rf "$build/upgrade"
(cd "$build" && cpack -G DEB -D CPACK_PACKAGE_VERSION=99.0.0 -B "$build/upgrade" >/dev/null)
deb2=$(ls "$build"/upgrade/mskpki_99.0.0_*.deb | head -1)
[ -f "$deb2" ] || fail "no upgrade .deb built"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb2" </dev/null >/dev/null || fail "upgrade failed"
[ "$(dpkg-query -W -f='${Version}' mskpki)" = "99.0.0" ] || fail "upgrade did not install 99.0.0"
grep -q "edited by the admin" /etc/mskpki/mskpki.conf || fail "edited config lost on upgrade"
[ ! -e /etc/mskpki/mskpki.conf.dpkg-new ] || fail "upgrade left mskpki.conf.dpkg-new"
[ "$(stat -c '%a %G' /etc/mskpki/mskpki.conf)" = "640 mskpki" ] || fail "config mode after upgrade"
[ "$(openssl x509 -noout -fingerprint -sha256 -in /var/lib/mskpki/ca/ca.crt)" = "$ca_before" ] ||
    fail "the local CA changed on upgrade"
openssl verify -purpose sslclient -CAfile "$out/ca.crt" "$out/client.crt" >/dev/null ||
    fail "issued cert does not verify after upgrade"
/usr/sbin/mskpki-agent --check-config --config /etc/mskpki/mskpki.conf ||
    fail "kept config rejected after upgrade"

dpkg --purge mskpki >/dev/null
trap - EXIT
[ ! -e /usr/sbin/mskpki-agent ] || fail "agent left after purge"
[ ! -e /var/lib/mskpki ] || fail "state left after purge"
[ ! -e /etc/mskpki ] || fail "config left after purge"
[ ! -e /etc/default/mskpki-probe ] || fail "/etc/default/mskpki-probe left after purge"
echo "packaging: ok"
