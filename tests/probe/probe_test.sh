#!/usr/bin/env bash
# probe_test.sh MSKPKICTL TEST_BROKER CASE: one integration scenario of `mskpkictl probe`.
# Every server runs on 127.0.0.1 on a port it binds itself (port 0) and is killed on exit (lib.sh).
MSKPKICTL=$1
TEST_BROKER=$2
CASE=$3
source "$(dirname "$0")/lib.sh"

make_pki "$TMP"
CA=$TMP/ca.pem
CLIENT=(--cert "$TMP/client.pem" --key "$TMP/client.key")
SERVER=(--cert "$TMP/server.pem" --key "$TMP/server.key")

# Every negative case REFUSED, valid and broker_certificate ACCEPTED, under both versions;
# TLS 1.0 and 1.1 refused; no plaintext endpoint known: plaintext_listener NOT_APPLICABLE.
# 15 results per broker: 7 cases x 2 versions, minus revoked (not asked), 2 legacy, 1 plaintext.
case_strict() {
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format json \
        --timeout 5
    expect_rc 0
    expect_json 'len(res) == 15 and all(x["ok"] for x in res)'
    expect_json 'all(one(c, t)["outcome"] == "REFUSED" for c in ("no_client_cert", "untrusted_client_cert", "expired_client_cert", "not_yet_valid_client_cert") for t in ("TLSv1.2", "TLSv1.3"))'
    expect_json 'all(one(c, t)["outcome"] == "ACCEPTED" for c in ("valid_client_cert", "broker_certificate") for t in ("TLSv1.2", "TLSv1.3"))'
    expect_json 'one("no_client_cert", "TLSv1.3")["detail"].startswith("alert certificate required (116)")'
    expect_json 'one("untrusted_client_cert", "TLSv1.2")["detail"].startswith("alert unknown CA (48)")'
    expect_json 'all(one("legacy_tls_version", t)["outcome"] == "REFUSED" and "protocol version (70)" in one("legacy_tls_version", t)["detail"] for t in ("TLSv1.0", "TLSv1.1"))'
    expect_json 'one("plaintext_listener", "none")["outcome"] == "NOT_APPLICABLE" and "no plaintext endpoint known" in one("plaintext_listener", "none")["detail"]'
    expect_json 'not any("remediation" in x for x in res)'
    expect_json 'r["summary"]["passed"] == 15 and r["summary"]["failed"] == 0 and r["summary"]["exit_code"] == 0'
    # The same run as a table and as JUnit.
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}"
    expect_rc 0
    grep -q '^BROKER  *CASE' "$OUT" || fail "no table header"
    grep -q '15 checks: 15 passed, 0 failed' "$OUT" || fail "no table summary"
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format junit
    expect_rc 0
    python3 - "$OUT" <<'PY' || fail "junit check"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites" and root.get("tests") == "15" and root.get("failures") == "0"
assert len(root.findall("./testsuite/testcase")) == 15
PY
}

# A broker that still speaks TLS 1.0 (and one from 1.1): legacy_tls_version fails with the
# remediation; the modern cases are unaffected.
case_legacy_tls() {
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert --tls-min 1.0
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format json
    expect_rc 1
    expect_json 'all(one("legacy_tls_version", t)["outcome"] == "ACCEPTED" and not one("legacy_tls_version", t)["ok"] and one("legacy_tls_version", t)["detail"] == t + " handshake completed" for t in ("TLSv1.0", "TLSv1.1"))'
    expect_json '"ssl.enabled.protocols=TLSv1.2,TLSv1.3" in one("legacy_tls_version", "TLSv1.0")["remediation"]'
    expect_json 'all(x["ok"] for x in res if x["case"] != "legacy_tls_version")'
    # Without a client certificate the broker still answers the TLS 1.0 ServerHello: it speaks
    # the version, which is what the case is about.
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" --format json
    expect_rc 1
    expect_json 'one("legacy_tls_version", "TLSv1.0")["outcome"] == "ACCEPTED"'
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert --tls-min 1.1
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format json
    expect_rc 1
    expect_json 'one("legacy_tls_version", "TLSv1.0")["outcome"] == "REFUSED" and one("legacy_tls_version", "TLSv1.0")["ok"]'
    expect_json 'one("legacy_tls_version", "TLSv1.1")["outcome"] == "ACCEPTED"'
    # The table shows the remediation under a failed row.
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}"
    expect_rc 1
    grep -q '^ *remediation: allow only TLS 1.2 and 1.3' "$OUT" || fail "no remediation in table"
}

# plaintext_listener: a plaintext broker answering ApiVersions fails; a TLS port, a port that
# refuses connections and an HTTP server pass (refused, closed or not Kafka).
case_plaintext() {
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert
    local tls_port=$BROKER_PORT
    start_broker --plaintext
    local plain_port=$BROKER_PORT
    refused_port
    run_probe --bootstrap "localhost:$tls_port" --ca-file "$CA" "${CLIENT[@]}" --format json \
        --plaintext-bootstrap "127.0.0.1:$plain_port,localhost:$tls_port,127.0.0.1:$REFUSED_PORT"
    expect_rc 1
    expect_json 'len([x for x in res if x["case"] == "plaintext_listener"]) == 3 and r["summary"]["brokers"] == 3'
    expect_json '[x for x in res if x["broker"] == "127.0.0.1:'"$plain_port"'"] == [x for x in res if x["case"] == "plaintext_listener" and x["outcome"] == "ACCEPTED"]'
    expect_json 'all(x["tls_version"] == "none" and x["expected"] == "REFUSED" for x in res if x["case"] == "plaintext_listener")'
    expect_json 'all(not x["ok"] and "plaintext ApiVersions v3 answered" in x["detail"] and "update-security" in x["remediation"] and "CLUSTER_ARN" in x["remediation"] for x in res if x["broker"] == "127.0.0.1:'"$plain_port"'")'
    expect_json 'all(x["outcome"] == "REFUSED" and x["ok"] for x in res if x["case"] == "plaintext_listener" and x["broker"] != "127.0.0.1:'"$plain_port"'")'
    expect_json '"nothing listens" in [x for x in res if x["broker"] == "127.0.0.1:'"$REFUSED_PORT"'"][0]["detail"]'
    expect_json 'all(x["ok"] for x in res if x["case"] != "plaintext_listener")'
    # A bad --plaintext-bootstrap is a usage error naming the option.
    usage_case "--plaintext-bootstrap" --bootstrap a:1 --ca-file "$CA" --plaintext-bootstrap nope
}

# A revoked certificate that the broker accepts (no CRL, as on MSK): FAIL, with the DENY ACL for
# its principal as Kafka derives it (User: + the subject in RFC 2253 form, last RDN first).
case_revoked_acl() {
    sign_cert "$TMP" revoked "gone-client" "extendedKeyUsage=clientAuth" ca
    openssl req -new -key "$TMP/revoked.key" -subj "/C=US/O=Example/OU=kafka/CN=gone,client" \
        -out "$TMP/revoked.csr" 2>/dev/null
    openssl x509 -req -in "$TMP/revoked.csr" -CA "$CA" -CAkey "$TMP/ca.key" -CAcreateserial \
        -days 2 -extfile "$TMP/revoked.ext" -out "$TMP/revoked.pem" 2>/dev/null
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format json \
        --revoked-cert "$TMP/revoked.pem" --revoked-key "$TMP/revoked.key"
    expect_rc 1
    expect_json 'all(one("revoked_client_cert", t)["outcome"] == "ACCEPTED" and not one("revoked_client_cert", t)["ok"] for t in ("TLSv1.2", "TLSv1.3"))'
    expect_json '"MSK does not check CRLs" in one("revoked_client_cert", "TLSv1.3")["detail"]'
    expect_json 'one("revoked_client_cert", "TLSv1.2")["remediation"] == "kafka-acls --bootstrap-server localhost:'"$BROKER_PORT"' --command-config admin.properties --add --deny-principal '"'"'User:CN=gone\\,client,OU=kafka,O=Example,C=US'"'"' --operation All --topic '"'"'*'"'"' --group '"'"'*'"'"' --cluster"'
    expect_json 'len(res) == 17'
}

# test_broker's ApiVersions answers, checked by an encoder/decoder that shares no code with it
# (the probe and test_broker both use ctl/probe/kafka_wire.c), for a current and an older broker.
case_apiversions() {
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert
    python3 "$(dirname "$0")/apiversions_client.py" "$BROKER_PORT" "$CA" "$TMP/client.pem" \
        "$TMP/client.key" 3 || fail "ApiVersions answers (max v3)"
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert --api-versions-max 1
    python3 "$(dirname "$0")/apiversions_client.py" "$BROKER_PORT" "$CA" "$TMP/client.pem" \
        "$TMP/client.key" 1 || fail "ApiVersions answers (max v1)"
}

# A broker older than KIP-511 answers our v3 request with UNSUPPORTED_VERSION in the v0 layout:
# that is a Kafka answer, so the valid certificate is ACCEPTED and the refusals stay REFUSED.
case_old_kafka() {
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert --api-versions-max 2
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format json
    expect_rc 0
    expect_json 'all(x["ok"] for x in res) and len(res) == 15'
    expect_json 'all(one("valid_client_cert", t)["outcome"] == "ACCEPTED" and "v0 answered" in one("valid_client_cert", t)["detail"] and "error_code 35" in one("valid_client_cert", t)["detail"] for t in ("TLSv1.2", "TLSv1.3"))'
    expect_json 'one("no_client_cert", "TLSv1.3")["outcome"] == "REFUSED"'
}

# TLS 1.3 refused by the broker: NOT_APPLICABLE, not a failure.
case_tls12_only() {
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert --tls-max 1.2
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format json
    expect_rc 0
    expect_json 'all(x["outcome"] == "NOT_APPLICABLE" and x["ok"] for x in res if x["tls_version"] == "TLSv1.3")'
    expect_json 'one("valid_client_cert", "TLSv1.2")["outcome"] == "ACCEPTED"'
    expect_json '"protocol version (70)" in one("no_client_cert", "TLSv1.3")["detail"]'
}

case_tls13_only() {
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert --tls-min 1.3
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format json
    expect_rc 0
    expect_json 'all(x["outcome"] == "NOT_APPLICABLE" for x in res if x["tls_version"] == "TLSv1.2")'
    expect_json 'one("no_client_cert", "TLSv1.3")["outcome"] == "REFUSED"'
}

# A broker that does not ask for client certificates is open: every negative case fails.
case_no_client_auth() {
    start_broker "${SERVER[@]}"
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format json
    expect_rc 1
    expect_json 'one("no_client_cert", "TLSv1.2")["outcome"] == "ACCEPTED" and not one("no_client_cert", "TLSv1.2")["ok"]'
    expect_json 'one("no_client_cert", "TLSv1.3")["outcome"] == "ACCEPTED"'
    expect_json 'one("valid_client_cert", "TLSv1.3")["ok"]'
}

# Optional client certificates: a bad certificate is refused, no certificate is let in.
case_optional() {
    start_broker "${SERVER[@]}" --ca-file "$CA" --optional-client-cert
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format json
    expect_rc 1
    expect_json 'one("no_client_cert", "TLSv1.2")["outcome"] == "ACCEPTED"'
    expect_json 'one("untrusted_client_cert", "TLSv1.2")["outcome"] == "REFUSED"'
    expect_json 'one("expired_client_cert", "TLSv1.3")["outcome"] == "REFUSED"'
}

# A broker trusting any CA: untrusted and expired certificates get in.
case_trust_any() {
    start_broker "${SERVER[@]}" --require-client-cert --trust-any
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format json
    expect_rc 1
    expect_json 'one("no_client_cert", "TLSv1.2")["ok"] and one("no_client_cert", "TLSv1.3")["ok"]'
    expect_json 'one("untrusted_client_cert", "TLSv1.2")["outcome"] == "ACCEPTED" and not one("untrusted_client_cert", "TLSv1.2")["ok"]'
    expect_json 'one("untrusted_client_cert", "TLSv1.3")["outcome"] == "ACCEPTED"'
    expect_json 'one("expired_client_cert", "TLSv1.3")["outcome"] == "ACCEPTED"'
    expect_json 'all(one("not_yet_valid_client_cert", t)["outcome"] == "ACCEPTED" and not one("not_yet_valid_client_cert", t)["ok"] for t in ("TLSv1.2", "TLSv1.3"))'
}

# Our valid certificate revoked by the broker's CRL: valid_client_cert fails (REFUSED).
case_crl() {
    python3 - "$TMP" <<'PY'
import sys, datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
d = sys.argv[1]
ca = x509.load_pem_x509_certificate(open(d + "/ca.pem", "rb").read())
key = serialization.load_pem_private_key(open(d + "/ca.key", "rb").read(), None)
leaf = x509.load_pem_x509_certificate(open(d + "/client.pem", "rb").read())
now = datetime.datetime.now(datetime.timezone.utc)
rev = x509.RevokedCertificateBuilder().serial_number(leaf.serial_number).revocation_date(now).build()
crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject).last_update(now)
       .next_update(now + datetime.timedelta(days=1)).add_revoked_certificate(rev).sign(key, hashes.SHA256()))
open(d + "/ca.crl", "wb").write(crl.public_bytes(serialization.Encoding.PEM))
PY
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert --crl "$TMP/ca.crl"
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format json
    expect_rc 1
    expect_json 'one("valid_client_cert", "TLSv1.2")["outcome"] == "REFUSED"'
    expect_json '"certificate revoked (44)" in one("valid_client_cert", "TLSv1.3")["detail"]'
}

# The broker's certificate: wrong name, wrong CA.
case_broker_cert() {
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format json \
        --server-name kafka.wrong.example
    expect_rc 1
    expect_json 'one("broker_certificate", "TLSv1.2")["outcome"] == "REFUSED" and "hostname mismatch" in one("broker_certificate", "TLSv1.3")["detail"]'
    expect_json 'one("valid_client_cert", "TLSv1.3")["ok"]'
    # An IP literal is checked against the IP SAN (127.0.0.1 is in it).
    run_probe --bootstrap "127.0.0.1:$BROKER_PORT" --ca-file "$CA" "${CLIENT[@]}" --format json
    expect_rc 0
    # Trusting another CA: the broker's chain does not verify.
    cat "$TMP/other-ca.pem" > "$TMP/other-only.pem"
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$TMP/other-only.pem" "${CLIENT[@]}" \
        --format json
    expect_rc 1
    # (test_broker sends its CA too, as OpenSSL auto-chains: "self-signed certificate in chain")
    expect_json 'one("broker_certificate", "TLSv1.2")["outcome"] == "REFUSED" and "verify failed" in one("broker_certificate", "TLSv1.2")["detail"]'
}

# Nothing listening: ERROR everywhere, exit 3; a negative case never passes on a dead broker.
case_down() {
    local port
    closed_port
    port=$PORT0
    run_probe --bootstrap "127.0.0.1:$port" --ca-file "$CA" "${CLIENT[@]}" --format json --timeout 2
    expect_rc 3
    expect_json 'len(res) == 15 and all(x["outcome"] == "ERROR" and not x["ok"] for x in res if x["case"] != "plaintext_listener")'
    expect_json '"refused" in res[0]["detail"]'
    # One live strict broker and one dead one: exit 1, the dead one's cases are errors.
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert
    run_probe --bootstrap "localhost:$BROKER_PORT,127.0.0.1:$port" --ca-file "$CA" "${CLIENT[@]}" \
        --format json --timeout 2
    expect_rc 1
    expect_json 'all(x["ok"] for x in res if x["broker"] == "localhost:'"$BROKER_PORT"'")'
    expect_json 'all(x["outcome"] == "ERROR" for x in res if x["broker"] == "127.0.0.1:'"$port"'" and x["case"] != "plaintext_listener")'
}

# A plain HTTP server is not a TLS broker.
case_http() {
    local port
    start_port0 "$TMP/http.out" '^Serving HTTP on 127\.0\.0\.1 port ([0-9]+) .*' \
        python3 -u -m http.server --bind 127.0.0.1 0
    port=$PORT0
    wait_port "$port"
    run_probe --bootstrap "127.0.0.1:$port" --ca-file "$CA" --format json --timeout 3
    expect_rc 3
    expect_json 'all(x["outcome"] == "ERROR" for x in res if x["case"] != "plaintext_listener") and "not a TLS server" in res[0]["detail"]'
    # As a plaintext endpoint it waits for an HTTP request line that never comes: no Kafka
    # answer, so plaintext_listener passes (the TLS cases are still errors).
    run_probe --bootstrap "127.0.0.1:$port" --ca-file "$CA" --format json --timeout 2 \
        --plaintext-bootstrap "127.0.0.1:$port"
    expect_rc 1
    expect_json 'one("plaintext_listener", "none")["outcome"] == "REFUSED" and one("plaintext_listener", "none")["ok"] and one("plaintext_listener", "none")["detail"].startswith("no Kafka answer")'
    # A service that answers at once, but not as Kafka (an SSH banner, the connection kept
    # open so the answer is read, not reset): PASS, "not Kafka".
    start_port0 "$TMP/banner.out" '^PORT=([0-9]+)$' python3 -u -c "
import socket
s = socket.socket()
s.bind(('127.0.0.1', 0)); s.listen(16); print('PORT=%d' % s.getsockname()[1])
conns = []
while True:
    c, _ = s.accept(); c.sendall(b'SSH-2.0-OpenSSH_9.2p1 Debian-2\\r\\n'); conns.append(c)
"
    local banner=$PORT0
    wait_port "$banner"
    run_probe --bootstrap "127.0.0.1:$port" --ca-file "$CA" --format json --timeout 2 \
        --plaintext-bootstrap "127.0.0.1:$banner"
    expect_rc 1
    expect_json 'one("plaintext_listener", "none")["outcome"] == "REFUSED" and one("plaintext_listener", "none")["ok"]'
    expect_json 'one("plaintext_listener", "none")["detail"].startswith("not Kafka: ")'
}

# A TCP server that accepts and never answers: timeouts are errors.
case_silent() {
    local port
    start_port0 "$TMP/silent.out" '^PORT=([0-9]+)$' python3 -u -c "
import socket, time
s = socket.socket()
s.bind(('127.0.0.1', 0)); s.listen(16); print('PORT=%d' % s.getsockname()[1])
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
"
    port=$PORT0
    wait_port "$port"
    run_probe --bootstrap "127.0.0.1:$port" --ca-file "$CA" --format json --timeout 1
    expect_rc 3
    expect_json 'all(x["outcome"] == "ERROR" for x in res if x["case"] != "plaintext_listener") and "timeout" in res[0]["detail"]'
}

# openssl s_server -Verify 1: refusals at the handshake; a TLS server that is not Kafka never
# answers ApiVersions, so valid_client_cert is an ERROR (not ACCEPTED).
case_s_server() {
    local port
    # Without -quiet it reports the port it bound: "ACCEPT 127.0.0.1:PORT".
    start_port0 "$TMP/s_server.out" '^ACCEPT 127\.0\.0\.1:([0-9]+)$' \
        openssl s_server -accept "127.0.0.1:0" -cert "$TMP/server.pem" -key "$TMP/server.key" \
        -CAfile "$CA" -Verify 1 -verify_return_error -rev < /dev/null
    port=$PORT0
    wait_port "$port"
    run_probe --bootstrap "localhost:$port" --ca-file "$CA" "${CLIENT[@]}" --format json --timeout 2
    expect_rc 1
    expect_json 'one("no_client_cert", "TLSv1.2")["outcome"] == "REFUSED" and "handshake failure (40)" in one("no_client_cert", "TLSv1.2")["detail"]'
    expect_json 'one("no_client_cert", "TLSv1.3")["detail"].startswith("alert certificate required (116)")'
    expect_json 'one("untrusted_client_cert", "TLSv1.3")["outcome"] == "REFUSED"'
    expect_json 'one("expired_client_cert", "TLSv1.2")["outcome"] == "REFUSED"'
    expect_json 'one("valid_client_cert", "TLSv1.2")["outcome"] == "ERROR" and one("valid_client_cert", "TLSv1.3")["outcome"] == "ERROR"'
    expect_json 'one("broker_certificate", "TLSv1.3")["outcome"] == "ACCEPTED"'
}

# Several brokers in parallel.
case_concurrency() {
    local list=""
    for _ in 1 2 3; do
        start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert
        list="$list,localhost:$BROKER_PORT"
    done
    run_probe --bootstrap "${list#,}" --ca-file "$CA" "${CLIENT[@]}" --format json --concurrency 3
    expect_rc 0
    expect_json 'len(res) == 45 and r["summary"]["brokers"] == 3'
}

# Certificate and key taken from the agent's configuration (plain and encrypted key).
case_agent_config() {
    mkdir -p "$TMP/out"
    cp "$TMP/client.pem" "$TMP/out/client.crt"
    cp "$TMP/client.key" "$TMP/out/client.key"
    cat > "$TMP/agent.conf" <<EOF
state_dir = "$TMP/state";
certificates = (
  { name = "kafka-client";
    subject = { common_name = "probe-client"; };
    output = { directory = "$TMP/out"; key = "client.key"; cert = "client.crt"; };
  }
);
EOF
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" --agent-config "$TMP/agent.conf" \
        --name kafka-client --format json
    expect_rc 0
    expect_json 'one("valid_client_cert", "TLSv1.3")["outcome"] == "ACCEPTED"'
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" --agent-config "$TMP/agent.conf" \
        --name nope
    expect_rc 2
    grep -q "no certificate named 'nope'" "$ERR" || fail "unknown name not reported"
    # Encrypted key with the agent's passphrase file.
    printf 's3cret-pass\n' > "$TMP/pass"
    openssl pkey -in "$TMP/client.key" -aes256 -passout file:"$TMP/pass" -out "$TMP/out/client.key"
    sed -i "s|cert = \"client.crt\";|cert = \"client.crt\"; key_passphrase_file = \"$TMP/pass\";|" \
        "$TMP/agent.conf"
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" --agent-config "$TMP/agent.conf" \
        --name kafka-client --format json
    expect_rc 0
    if grep -q s3cret "$OUT" "$ERR"; then fail "passphrase leaked"; fi
    # The same encrypted key given directly cannot be used: a clear error, no prompt.
    run_probe --bootstrap "localhost:$BROKER_PORT" --ca-file "$CA" --cert "$TMP/out/client.crt" \
        --key "$TMP/out/client.key"
    expect_rc 2
    grep -q "cannot load private key" "$ERR" || fail "encrypted key error"
}

# start_fake_msk ARN TLS_BROKERS [PLAINTEXT_BROKERS]: tests/probe/fake_msk.py on a port it binds
# itself; FAKE_PORT.  AWS credentials for the signed call, none from the host.
start_fake_msk() {
    local out="$TMP/fake.$RANDOM"
    python3 "$(dirname "$0")/fake_msk.py" 0 "$@" > "$out" 2> "$TMP/fake.log" &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        FAKE_PORT=$(sed -n 's/^PORT=//p' "$out" 2>/dev/null || true)
        [ -n "$FAKE_PORT" ] && break
        sleep 0.05
    done
    [ -n "$FAKE_PORT" ] || fail "fake_msk did not report its port: $(cat "$TMP/fake.log")"
    export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=secretexample AWS_REGION=us-east-1
    unset AWS_PROFILE AWS_SESSION_TOKEN
    export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
}

# --cluster-arn: GetBootstrapBrokers from a local fake MSK endpoint (moto lacks this API).  A
# TLS-only cluster has no bootstrapBrokerString: plaintext_listener is NOT_APPLICABLE.
case_cluster_arn() {
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert
    local arn="arn:aws:kafka:us-east-1:123456789012:cluster/demo/abcd-1234"
    start_fake_msk "$arn" "localhost:$BROKER_PORT"
    run_probe --cluster-arn "$arn" --endpoint-url "http://127.0.0.1:$FAKE_PORT" --ca-file "$CA" \
        "${CLIENT[@]}" --format json
    expect_rc 0
    expect_json 'len(res) == 15 and res[0]["broker"] == "localhost:'"$BROKER_PORT"'"'
    expect_json 'one("plaintext_listener", "none")["outcome"] == "NOT_APPLICABLE"'
    grep -q "GET /v1/clusters/" "$TMP/fake.log" || fail "fake MSK not called"
    # An unknown cluster: the AWS error, exit 3.
    run_probe --cluster-arn "${arn}-missing" --endpoint-url "http://127.0.0.1:$FAKE_PORT" \
        --ca-file "$CA" "${CLIENT[@]}"
    expect_rc 3
    grep -q "NotFoundException" "$ERR" || { cat "$ERR"; fail "AWS error not reported"; }
    [ "$(wc -l < "$ERR")" -eq 1 ] || fail "AWS error is not one line"
}

# A TLS_PLAINTEXT cluster: GetBootstrapBrokers also has bootstrapBrokerString, whose listener
# answers ApiVersions in clear: plaintext_listener FAILs, the remediation names the cluster.
# --plaintext-bootstrap overrides the listed endpoints.
case_cluster_arn_plaintext() {
    start_broker "${SERVER[@]}" --ca-file "$CA" --require-client-cert
    local tls_port=$BROKER_PORT
    start_broker --plaintext
    local plain_port=$BROKER_PORT
    local arn="arn:aws:kafka:us-east-1:123456789012:cluster/mixed/abcd-5678"
    start_fake_msk "$arn" "localhost:$tls_port" "127.0.0.1:$plain_port"
    run_probe --cluster-arn "$arn" --endpoint-url "http://127.0.0.1:$FAKE_PORT" --ca-file "$CA" \
        "${CLIENT[@]}" --format json
    expect_rc 1
    expect_json 'len(res) == 15 and r["summary"]["brokers"] == 2 and r["summary"]["failed"] == 1'
    expect_json 'one("plaintext_listener", "none")["broker"] == "127.0.0.1:'"$plain_port"'" and one("plaintext_listener", "none")["outcome"] == "ACCEPTED"'
    expect_json '"--cluster-arn '"$arn"' " in one("plaintext_listener", "none")["remediation"]'
    refused_port
    run_probe --cluster-arn "$arn" --endpoint-url "http://127.0.0.1:$FAKE_PORT" --ca-file "$CA" \
        "${CLIENT[@]}" --format json --plaintext-bootstrap "127.0.0.1:$REFUSED_PORT"
    expect_rc 0
    expect_json 'one("plaintext_listener", "none")["broker"] == "127.0.0.1:'"$REFUSED_PORT"'" and one("plaintext_listener", "none")["outcome"] == "REFUSED"'
}

usage_case() { # usage_case EXPECTED_SUBSTRING ARGS...
    local want=$1
    shift
    run_probe "$@"
    expect_rc 2
    [ "$(wc -l < "$ERR")" -eq 1 ] || { cat "$ERR"; fail "usage error is not one line: $*"; }
    grep -q -- "$want" "$ERR" || { cat "$ERR"; fail "usage error lacks '$want': $*"; }
    [ ! -s "$OUT" ] || fail "usage error wrote to stdout"
}

case_usage() {
    usage_case "exactly one of" --ca-file "$CA"
    usage_case "exactly one of" --bootstrap a:1 --cluster-arn arn:aws:kafka:x --ca-file "$CA"
    usage_case "--ca-file is required" --bootstrap a:1
    usage_case "expected HOST:PORT" --bootstrap localhost --ca-file "$CA"
    usage_case "bad port" --bootstrap localhost:99999 --ca-file "$CA"
    usage_case "IPv6 needs" --bootstrap ::1:9094 --ca-file "$CA"
    usage_case "no broker" --bootstrap , --ca-file "$CA"
    usage_case "--timeout" --bootstrap a:1 --ca-file "$CA" --timeout 0
    usage_case "--timeout" --bootstrap a:1 --ca-file "$CA" --timeout 5s
    usage_case "--concurrency" --bootstrap a:1 --ca-file "$CA" --concurrency 1000
    usage_case "--format" --bootstrap a:1 --ca-file "$CA" --format xml
    usage_case "go together" --bootstrap a:1 --ca-file "$CA" --cert "$TMP/client.pem"
    usage_case "go together" --bootstrap a:1 --ca-file "$CA" --name x
    usage_case "not both" --bootstrap a:1 --ca-file "$CA" "${CLIENT[@]}" --agent-config /x --name y
    usage_case "go with --cluster-arn" --bootstrap a:1 --ca-file "$CA" --region us-east-1
    usage_case "not an ARN" --cluster-arn cluster/demo --ca-file "$CA"
    usage_case "unknown option" --bootstrap a:1 --ca-file "$CA" --bogus
    # Long options are spelled out in full, as in audit (mskpkictl(8), OPTIONS).
    usage_case "not abbreviated" --boot a:1 --ca-file "$CA"
    usage_case "not abbreviated" --bootstrap a:1 --ca-file="$CA" --time=5
    usage_case "needs a value" --bootstrap a:1 --ca-file
    usage_case "unexpected argument" --bootstrap a:1 --ca-file "$CA" extra
    usage_case "no usable CA" --bootstrap a:1 --ca-file "$TMP/missing.pem"
    usage_case "cannot load client certificate" --bootstrap a:1 --ca-file "$CA" \
        --cert "$TMP/missing.pem" --key "$TMP/client.key"
    usage_case "does not match" --bootstrap a:1 --ca-file "$CA" --cert "$TMP/client.pem" \
        --key "$TMP/server.key"
    usage_case "cannot open" --bootstrap a:1 --ca-file "$CA" --agent-config "$TMP/nope.conf" \
        --name x
    run_probe --help
    expect_rc 0
    grep -q "usage: mskpkictl probe" "$OUT" || fail "--help"
}

"case_$CASE"
echo "ok: probe $CASE"
