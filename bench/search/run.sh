#!/usr/bin/env bash
# Search at 1M resources (issue 6): generates a seeded synthetic region of at least
# one million resources, imports it into a fresh SQLite file and a fresh PostgreSQL
# database, serves each, runs every search shape of `hutong loadtest` at 1 and 16
# clients, prints one table per store, and writes the query plans of the shapes.
#
#   bench/search/run.sh                 # everything (generation and imports reused when present)
#   DURATION=5 bench/search/run.sh      # shorter runs per shape
#   FRESH=1 bench/search/run.sh         # re-import both stores
#   STORES=sqlite bench/search/run.sh   # one store only
#   SKIP_BUILD=1 bench/search/run.sh    # use target/release/hutong as it is
#
# Data and results go under $BENCH_DATA (default target/bench-search, git-ignored).
# PostgreSQL: $PGHOST:$PGPORT, user postgres, database hutong_bench (dropped with
# DROP_PG=1 at the end).
set -euo pipefail
cd "$(dirname "$0")/../.."

RESIDENTS=${RESIDENTS:-28500}
SEED=${SEED:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CLIENTS=${CLIENTS:-"1 16"}
STORES=${STORES:-"sqlite postgres"}
SHAPES=${SHAPES:-"search-compartment search-token search-token-date search-name search-identifier search-chain search-has search-include search-revinclude search-count"}
DATA=${BENCH_DATA:-$PWD/target/bench-search}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGDB=${PGDB:-hutong_bench}
PORT=${PORT:-18090}
export PGHOST PGPORT
PSQL=(psql -U postgres -d "$PGDB" -X -q -v ON_ERROR_STOP=1)
BIN=${HUTONG_BIN:-$PWD/target/release/hutong}
REGION=$DATA/region-$RESIDENTS-$SEED
OUT=${RESULTS:-$DATA/results}
mkdir -p "$DATA" "$OUT"

log() { printf '\n== %s (%s)\n' "$*" "$(uptime | sed 's/.*load average: /load /')" >&2; }

if [[ -z ${SKIP_BUILD:-} ]]; then
  log "build"
  cargo build --release -p hutong-server >&2
fi
# EXPLAIN with the SQLite hutong bundles (the system shell's planner differs)
CARGO_TARGET_DIR=$DATA/sqlite-plan-target cargo build --release -q \
  --manifest-path bench/search/sqlite-plan/Cargo.toml >&2
export SQLITE_PLAN=$DATA/sqlite-plan-target/release/sqlite-plan

if [[ ! -f $REGION/.complete ]]; then
  log "generate $RESIDENTS residents, seed $SEED"
  rm -rf "$REGION"
  /usr/bin/time -f 'synth: %e s, peak RSS %M KB' \
    "$BIN" synth --residents "$RESIDENTS" --seed "$SEED" --out "$REGION" 2>&1 | tee "$REGION.log" >&2
  touch "$REGION/.complete"
fi
total=$(sed -n 's/.* registrations, \([0-9]*\) resources.*/\1/p' "$REGION.log")
echo "generated: $total resources" >&2
(( total >= 1000000 )) || { echo "fewer than 1M resources: raise RESIDENTS" >&2; exit 1; }

# resources by type, as stored
counts() {
  local sql="SELECT resource_type, COUNT(*) FROM resource GROUP BY resource_type ORDER BY 2 DESC"
  if [[ $1 == sqlite ]]; then sqlite3 "$DATA/search.db" "$sql"; else "${PSQL[@]}" -A -t -c "$sql"; fi
}

import_sqlite() {
  local db=$DATA/search.db
  if [[ -n ${FRESH:-} || ! -f $DATA/.sqlite-complete ]]; then
    log "import into SQLite"
    rm -f "$db" "$db-wal" "$db-shm" "$DATA/.sqlite-complete"
    /usr/bin/time -f 'import sqlite: %e s, peak RSS %M KB' \
      "$BIN" import --quiet --database "sqlite://$db" --concurrency 2 "$REGION" >&2
    touch "$DATA/.sqlite-complete"
  fi
  URL="sqlite://$db"
}

import_postgres() {
  if [[ -n ${FRESH:-} || ! -f $DATA/.postgres-complete ]]; then
    log "import into PostgreSQL ($PGDB)"
    rm -f "$DATA/.postgres-complete"
    dropdb -U postgres --if-exists "$PGDB"
    createdb -U postgres "$PGDB"
    /usr/bin/time -f 'import postgres: %e s, peak RSS %M KB' \
      "$BIN" import --quiet --database "postgres://postgres@$PGHOST:$PGPORT/$PGDB" \
      --concurrency 4 "$REGION" >&2
    touch "$DATA/.postgres-complete"
  fi
  # statistics for the planner: autovacuum may not have analysed a freshly loaded table
  "${PSQL[@]}" -c 'VACUUM ANALYZE' >&2
  URL="postgres://postgres@$PGHOST:$PGPORT/$PGDB?max_connections=16"
}

serve() {
  "$BIN" serve --insecure-dev --database "$URL" --listen "127.0.0.1:$PORT" \
    >"$OUT/serve-$1.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return 0
    kill -0 "$SERVER" 2>/dev/null || { cat "$OUT/serve-$1.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "server did not come up" >&2
  exit 1
}

for store in $STORES; do
  "import_$store"
  counts "$store" | tee "$OUT/counts-$store.txt" >&2
  log "serve $store"
  serve "$store"
  for shape in $SHAPES; do
    for c in $CLIENTS; do
      "$BIN" loadtest --target "http://127.0.0.1:$PORT/fhir" --seed-residents 0 \
        --mix "$shape=1" --concurrency "$c" --duration "${DURATION}s" --warmup "${WARMUP}s" \
        --server-pid "$SERVER" --json "$OUT/$store-$shape-$c.json" >"$OUT/$store-$shape-$c.txt"
      jq -r --arg s "$store" --arg shape "$shape" --arg c "$c" --arg load "$(cut -d' ' -f1 /proc/loadavg)" \
        '(.operations[0] // {ok: 0, errors: 0, throughput: 0, p50_ms: 0, p99_ms: 0, max_ms: 0}) as $o | [$s, $shape, $c, ($o.ok|tostring), ($o.errors|tostring),
          ($o.throughput*10|round/10|tostring), ($o.p50_ms*100|round/100|tostring),
          ($o.p99_ms*100|round/100|tostring), ($o.max_ms*10|round/10|tostring), $load] | @tsv' \
        "$OUT/$store-$shape-$c.json" | tee -a "$OUT/rows-$store.tsv" >&2
    done
  done
  grep VmHWM "/proc/$SERVER/status" | sed "s/^/$store server peak RSS: /" | tee "$OUT/rss-$store.txt" >&2
  kill "$SERVER"
  wait "$SERVER" 2>/dev/null || true
  log "query plans, $store"
  python3 bench/search/explain.py "$store" "$DATA/search.db" >"$OUT/explain-$store.txt"
done

echo
for store in $STORES; do
  echo "### $store ($(cat "$OUT/rss-$store.txt" 2>/dev/null | sed 's/.*VmHWM: *//'))"
  echo
  echo "| shape | clients | req/s | p50 ms | p99 ms | max ms | errors | load |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  awk -F'\t' -v s="$store" '$1 == s {printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $2, $3, $6, $7, $8, $9, $5, $10}' \
    "$OUT/rows-$store.tsv" | tail -n "$(( $(wc -w <<<"$SHAPES") * $(wc -w <<<"$CLIENTS") ))"
  echo
done
echo "plans: $OUT/explain-*.txt"
if [[ -n ${DROP_PG:-} ]]; then dropdb -U postgres --if-exists "$PGDB"; fi
