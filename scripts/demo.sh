#!/usr/bin/env bash
# README command 1: install what is needed, build, and run the main job on the embedded default:
# mskpki-agent with the local CA backend issues a client certificate into /var/lib/mskpki-demo,
# shows the files and their permissions and its metrics, then rotates it before it expires.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

bash scripts/setup.sh
cmake -S . -B build -DMSKPKI_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

agent=$src/build/agent/mskpki-agent
conf=$src/conf/local-ca.conf
demo=/var/lib/mskpki-demo
out=$demo/out/demo-client
state=$demo/state/demo-client.json
metrics=http://127.0.0.1:9464/metrics

# Started as root, the agent runs its network process as mskpki (agent.user; setup.sh creates
# it), which must reach the state directory below: the demo directory is searchable, the
# outputs are not (0750, root's: the key process writes them).
getent passwd mskpki >/dev/null || useradd --system --user-group --no-create-home \
    --home-dir /var/lib/mskpki --shell /usr/sbin/nologin mskpki
install -d -m 0755 "$demo"
install -d -m 0750 "$demo/out"
# The PKCS#12 password for Java clients; made once, kept across runs like a real deployment's.
if [ ! -s "$demo/p12.pass" ]; then
    (umask 077 && head -c 18 /dev/urandom | base64 >"$demo/p12.pass")
fi

"$agent" --check-config --config "$conf"
"$agent" --config "$conf" --foreground 2>"$demo/agent.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT

# Prints the value of one top-level field of the state file (empty when absent).
state_field() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' \
        "$state" "$1" 2>/dev/null || true
}

wait_for() { # wait_for SECONDS COMMAND...: polls COMMAND once a second until it succeeds
    local limit=$1
    shift
    for _ in $(seq "$limit"); do
        "$@" && return 0
        kill -0 "$pid" 2>/dev/null || { echo "agent exited; its log:"; cat "$demo/agent.log"; exit 1; }
        sleep 1
    done
    echo "timed out waiting for: $*" >&2
    cat "$demo/agent.log" >&2
    exit 1
}

ready() { [ "$(state_field ready)" = "True" ]; }
wait_for 30 ready
first_gen=$(state_field generation)

echo
echo "== issued by the local CA: files in $out (stable paths are symlinks into the current generation)"
for f in "$out"/*; do
    case $(basename "$f") in current | previous) continue ;; esac
    stat -L -c '%A %U:%G %5s bytes  %n' "$f"
done
echo "current -> $(readlink "$out/current")"
echo
openssl x509 -in "$out/client.crt" -noout -subject -issuer -serial -startdate -enddate -ext extendedKeyUsage
openssl verify -purpose sslclient -CAfile "$out/ca.crt" "$out/client.crt"
openssl pkcs12 -in "$out/client.p12" -passin "file:$demo/p12.pass" -info -noout 2>&1 | head -3

echo
echo "== metrics ($metrics)"
curl -fsS "$metrics" | grep -E '^mskpki_(certificate_(ready|not_after|next_renewal)|rotations_total|certificates_issued_total)'

rotated() { [ "$(state_field generation)" != "$first_gen" ]; }
echo
echo "== waiting for the agent to rotate the certificate before it expires (generation $first_gen)"
wait_for 120 rotated
echo "rotated: now generation $(state_field generation), serial $(state_field serial)"
openssl x509 -in "$out/client.crt" -noout -serial -enddate
curl -fsS "$metrics" | grep -E '^mskpki_(rotations_total|certificates_issued_total|rotation_last_success)'
echo
echo "== agent log"
cat "$demo/agent.log"
