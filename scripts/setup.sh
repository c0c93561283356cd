#!/usr/bin/env bash
# Installs every Debian package the build, the demo and the tests need. Idempotent; run as root.
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang libclang-rt-14-dev
    libssl-dev openssl libcurl4-openssl-dev libconfig-dev libsodium-dev libjansson-dev
    libmicrohttpd-dev libsqlite3-dev sqlite3 libcmocka-dev libxml2-dev libxml2-utils libsystemd-dev libseccomp-dev
    python3 python3-pip curl kcat dpkg-dev man-db groff-base prometheus default-jre-headless valgrind strace procps faketime
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# moto is the AWS emulator the integration tests talk to; install it only where it is missing.
if ! python3 -c 'import moto, boto3, flask' >/dev/null 2>&1; then
    python3 -m pip install --quiet 'moto[server]' boto3 || \
        python3 -m pip install --quiet --break-system-packages 'moto[server]' boto3
fi

# The agent started as root runs its network process as this user (agent.user, docs/design.md);
# the demo and the tests start it as root.  The Debian package creates it too (postinst).
if ! getent passwd mskpki >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir /var/lib/mskpki \
        --shell /usr/sbin/nologin mskpki
fi
