# lib.sh: shared helpers for the probe integration tests (sourced, bash).
#
# make_pki DIR: a CA, a server certificate for localhost/127.0.0.1 and a client certificate, all
# EC P-256 with the openssl CLI:
#   DIR/ca.pem ca.key server.pem server.key client.pem client.key
#   DIR/other-ca.pem (a second CA, for "wrong CA" cases)
# start_broker DIR ARGS...: starts test_broker in the background, sets BROKER_PID and BROKER_PORT.
# Every process started here is killed by cleanup (trap EXIT), and the temp dir is removed.

set -euo pipefail

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mskpki-probe.XXXXXX")
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    # Outputs, logs and keys are kept for the secrets scan (tests/badinput/test_secrets.py).
    if [ -n "${MSKPKI_ARTIFACTS_DIR:-}" ]; then
        mkdir -p "$MSKPKI_ARTIFACTS_DIR/probe" && cp -a "$TMP" "$MSKPKI_ARTIFACTS_DIR/probe/" || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

openssl_ec_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

make_ca() { # make_ca DIR NAME
    openssl_ec_key "$1/$2.key"
    openssl req -x509 -new -key "$1/$2.key" -subj "/CN=$2" -days 30 -sha256 \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1/$2.pem" 2>/dev/null
}

sign_cert() { # sign_cert DIR NAME CN EXT CA [DAYS]
    local d=$1 name=$2 cn=$3 ext=$4 ca=$5 days=${6:-10}
    openssl_ec_key "$d/$name.key"
    openssl req -new -key "$d/$name.key" -subj "/CN=$cn" -out "$d/$name.csr" 2>/dev/null
    printf '%s\n' "$ext" > "$d/$name.ext"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.pem" -CAkey "$d/$ca.key" \
        -CAcreateserial -days "$days" -sha256 -extfile "$d/$name.ext" -out "$d/$name.pem" 2>/dev/null
}

make_pki() {
    local d=$1
    make_ca "$d" ca
    make_ca "$d" other-ca
    sign_cert "$d" server localhost \
        "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth
basicConstraints=critical,CA:FALSE" ca
    sign_cert "$d" client probe-client \
        "extendedKeyUsage=clientAuth
basicConstraints=critical,CA:FALSE" ca
}

# start_broker ARGS...: test_broker on the port it binds (--port 0); BROKER_PID, BROKER_PORT.
start_broker() {
    local out="$TMP/broker.$RANDOM.out"
    "$TEST_BROKER" --port 0 "$@" > "$out" 2> "$out.err" &
    BROKER_PID=$!
    PIDS+=("$BROKER_PID")
    for _ in $(seq 1 100); do
        if grep -q '^PORT=' "$out" 2>/dev/null; then
            BROKER_PORT=$(sed -n 's/^PORT=//p' "$out")
            return 0
        fi
        kill -0 "$BROKER_PID" 2>/dev/null || fail "test_broker exited: $(cat "$out.err")"
        sleep 0.05
    done
    fail "test_broker did not report its port"
}

# Servers here bind port 0 and report the port they got (a port picked free and released could be
# taken by another test before the server binds it).
# start_port0 OUT REGEX CMD...: runs CMD in the background (stdout+stderr to OUT, pid in PIDS) and
# sets PORT0 to group 1 of the first line of OUT that matches the sed -E REGEX.
start_port0() {
    local out=$1 re=$2
    shift 2
    "$@" > "$out" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    PORT0=
    for _ in $(seq 1 200); do
        PORT0=$(sed -nE "s/$re/\1/p" "$out" 2>/dev/null | head -1)
        [ -n "$PORT0" ] && return 0
        kill -0 "$pid" 2>/dev/null || fail "$1 exited: $(cat "$out")"
        sleep 0.05
    done
    fail "$1 did not report its port: $(cat "$out")"
}

# closed_port: sets PORT0 to a port bound (so nobody else gets it) but not listening, so that a
# connection is refused; held until the test ends.
closed_port() {
    start_port0 "$TMP/closed.$RANDOM.out" '^PORT=([0-9]+)$' python3 -u -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); print("PORT=%d" % s.getsockname()[1])
time.sleep(3600)'
}

# refused_port: REFUSED_PORT is a loopback port that refuses connections and stays so until the
# test ends (closed_port's socket, bound without listen()).
refused_port() {
    closed_port
    REFUSED_PORT=$PORT0
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT.
wait_port() {
    for _ in $(seq 1 100); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    fail "nothing listens on port $1"
}

# run_probe ARGS...: runs mskpkictl probe; sets RC, OUT (stdout file) and ERR (stderr file).
run_probe() {
    OUT="$TMP/out.$RANDOM"
    ERR="$TMP/err.$RANDOM"
    set +e
    "$MSKPKICTL" probe "$@" > "$OUT" 2> "$ERR"
    RC=$?
    set -e
    # Under -DMSKPKI_SANITIZE=ON a sanitizer report must fail the test even when the expected
    # exit code happens to match.
    if grep -q -e 'Sanitizer' -e 'runtime error:' "$ERR"; then
        cat "$ERR" >&2
        fail "sanitizer report"
    fi
}

expect_rc() {
    [ "$RC" -eq "$1" ] || { cat "$OUT" "$ERR" >&2; fail "expected exit $1, got $RC"; }
}

# The JSON Schema of the json report, as documented (the block after the probe-json-schema
# marker in docs/probe.md): every report a test reads is validated against it.
PROBE_DOC=${MSKPKI_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/docs/probe.md

# jq-free JSON checks with python: expect_json 'python expression over r (the document)'.
# Also checks the document against the documented schema and summary.exit_code against $RC.
expect_json() {
    python3 - "$OUT" "$1" "$PROBE_DOC" "${RC:-}" <<'PY' || { cat "$OUT" >&2; fail "json check failed: $1"; }
import json, re, sys
import jsonschema
r = json.load(open(sys.argv[1]))
doc = open(sys.argv[3]).read()
m = re.search(r"<!-- probe-json-schema -->\s*```json\n(.*?)\n```", doc, re.S)
assert m, "no probe-json-schema block in " + sys.argv[3]
jsonschema.Draft202012Validator(json.loads(m.group(1))).validate(r)
if sys.argv[4] != "":
    assert r["summary"]["exit_code"] == int(sys.argv[4]), ("summary.exit_code", r["summary"])
res = r["results"]
def one(case, tls):
    m = [x for x in res if x["case"] == case and x["tls_version"] == tls]
    assert len(m) == 1, (case, tls, m)
    return m[0]
ok = eval(sys.argv[2])
if not ok:
    sys.exit(1)
PY
}
