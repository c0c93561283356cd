#!/bin/bash
# smoke.sh: runs every bench/ program in a tiny mode and checks that it prints its figures, so the
# benchmarks do not rot.  Timings are printed by the programs but never checked here.
#   smoke.sh AGENT MSKPKICTL TEST_BROKER BENCH_FLOOR BENCH_FSYNC_FLOOR
set -euo pipefail
AGENT=$1 MSKPKICTL=$2 BROKER=$3 FLOOR=$4 FSYNC_FLOOR=$5
BENCH="${MSKPKI_SOURCE_DIR:?}/bench"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/mskpki-bench-smoke.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect FILE REGEX...: every regex matches some line of FILE.
expect() {
    local f=$1
    shift
    for re in "$@"; do
        grep -Eq "$re" "$f" || { cat "$f" >&2; fail "no line matching '$re' in $(basename "$f")"; }
    done
}

num='[0-9]+(\.[0-9]+)?'

"$FSYNC_FLOOR" "$OUT" 3 > "$OUT/fsync.txt"
expect "$OUT/fsync.txt" "^fsync_floor files=3 size=1024 total_s=$num per_file_ms=$num$"
"$FSYNC_FLOOR" "$OUT" 0 2> "$OUT/usage.txt" && fail "bench_fsync_floor accepted a count of 0"
expect "$OUT/usage.txt" "^usage: bench_fsync_floor"

python3 "$BENCH/bench_agent.py" --agent "$AGENT" --floor "$FLOOR" --fsync-floor "$FSYNC_FLOOR" \
    --certs 5 --rotate 5 --idle 1 --repeat 1 --key-types ec-p256 > "$OUT/agent.txt"
expect "$OUT/agent.txt" "^machine cpu=" \
    "^figure=rotation key_type=ec-p256 certs=5 files=25 agent_s=$num floor_s=$num .*ratio=$num$" \
    "^figure=footprint certs=5 rss_anon_kib=[0-9]+ .*floor_rss_anon_kib=[0-9]+ ratio=$num .*loop_wakeups=[0-9]+ thread_ctx_switches=[0-9]+"

python3 "$BENCH/bench_audit.py" --mskpkictl "$MSKPKICTL" --resources 10 --delay-ms 1 \
    --repeat 1 > "$OUT/audit.txt"
# 10 clusters, streams and Firehose streams; the fake counts the calls each side makes.
expect "$OUT/audit.txt" \
    "^figure=audit resources=30 delay_ms=1 concurrency=8 calls=[1-9][0-9]* findings=[1-9][0-9]* errors=0 wall_s=$num lower_bound_s=$num ratio_to_bound=$num$" \
    "^figure=audit_reference calls=[1-9][0-9]* concurrency=8 wall_s=$num ratio_to_bound=$num audit_ratio_to_reference=$num$" \
    "^figure=audit_boto3 calls=[1-9][0-9]* wall_s=$num findings=[1-9][0-9]* fail=[1-9][0-9]* calls=[0-9]+ speedup=$num$"
# Both sides made the same calls and found the same number of findings.
python3 - "$OUT/audit.txt" <<'PY' || fail "mskpkictl audit and the boto3 peer disagree"
import re, sys
t = open(sys.argv[1]).read()
a = re.search(r"^figure=audit .*calls=(\d+) findings=(\d+)", t, re.M)
b = re.search(r"^figure=audit_boto3 calls=(\d+) wall_s=\S+ findings=(\d+)", t, re.M)
sys.exit(0 if a.groups() == b.groups() else 1)
PY

python3 "$BENCH/bench_probe.py" --mskpkictl "$MSKPKICTL" --broker "$BROKER" --brokers 3 \
    --concurrency 4 --repeat 1 > "$OUT/probe.txt"
expect "$OUT/probe.txt" "^figure=probe brokers=3 concurrency=4 results=45 ok=45 wall_s=$num$" \
    "^figure=probe_s_client brokers=3 handshakes=48 wall_s=$num speedup_c4=$num$"
echo "bench smoke: ok"
