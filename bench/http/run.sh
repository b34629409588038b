#!/usr/bin/env bash
# HTTP benchmark of the foundation: single-resource create and read at 1 and 32 clients,
# and transaction-Bundle ingest, against the release binary on SQLite and PostgreSQL.
# Needs wrk (apt-get install wrk). Usage: bench/http/run.sh [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
bin=${HUTONG_BIN:-target/release/hutong}
[ -x "$bin" ] || cargo build --release -p hutong-server
synthea=../shared/testdata/synthea
bundle=$(ls -S "$synthea"/*_*.json | awk 'NR==20')   # a mid-sized patient Bundle
nres=$(python3 -c "import json,sys;print(len(json.load(open(sys.argv[1]))['entry']))" "$bundle")
port=18088
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
summary() { # $1 label, $2 wrk output file
  awk -v label="$1" '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    END {printf "%-34s %10s req/s   p50 %8s   p99 %8s\n", label, rps, p50, p99}' "$2"
}
for backend in sqlite postgres; do
  if [ $backend = sqlite ]; then db="sqlite://$work/bench.db";
  else db="postgres://postgres@127.0.0.1:5432/test?schema=bench_http&max_connections=32";
       psql -q postgres://postgres@127.0.0.1:5432/test -c "drop schema if exists bench_http cascade"; fi
  HUTONG_LOG=warn $bin serve --insecure-dev --listen 127.0.0.1:$port --database "$db" &
  pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
  base=http://127.0.0.1:$port/fhir
  echo "== $backend =="
  for c in 1 32; do
    wrk -t $([ $c = 1 ] && echo 1 || echo 2) -c $c -d ${secs}s --latency -s bench/http/create.lua $base/Patient > $work/out 2>&1
    summary "create Patient, $c client(s)" $work/out
  done
  # ids to read: the first 1000 patients created above
  curl -s "$base/Patient/_history?_count=1000" | python3 -c "import json,sys;[print(e['resource']['id']) for e in json.load(sys.stdin)['entry'] if 'resource' in e]" > $work/ids.txt
  for c in 1 32; do
    IDS_FILE=$work/ids.txt wrk -t $([ $c = 1 ] && echo 1 || echo 2) -c $c -d ${secs}s --latency -s bench/http/read.lua $base > $work/out 2>&1
    summary "read Patient, $c client(s)" $work/out
  done
  for c in 1 4; do
    BUNDLE_FILE=$bundle wrk -t 1 -c $c -d ${secs}s --latency -s bench/http/bundle.lua $base > $work/out 2>&1
    summary "transaction Bundle ($nres res), $c cl." $work/out
    rps=$(awk '/Requests\/sec/ {print $2}' $work/out)
    python3 -c "print(f'   = {float(\"$rps\")*$nres:,.0f} resources/s')"
  done
  kill $pid; wait $pid 2>/dev/null || true
  [ $backend = postgres ] && psql -q postgres://postgres@127.0.0.1:5432/test -c "drop schema if exists bench_http cascade"
done
