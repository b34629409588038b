#!/usr/bin/env bash
# Runs Hutong's whole test suite on both stores.
#
# Set-up it does on a fresh machine:
#  - starts the local PostgreSQL server if it is not running (tests use database `test`
#    on 127.0.0.1:5432, trust auth) and exports HUTONG_TEST_POSTGRES_URL;
#  - fetches the FHIR R4 examples package (CC0) into ./vendor-r4 (git-ignored) for the
#    round-trip tests, when npm is available.
# Tests read ../shared (FHIRPath suite, Synthea) and say loudly when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-postgres.sh
export HUTONG_TEST_POSTGRES_URL="${HUTONG_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
scripts/fetch-r4-examples.sh || echo "WARNING: could not fetch the R4 examples package; round-trip tests will be skipped" >&2

cargo test --workspace --all-targets "$@"
