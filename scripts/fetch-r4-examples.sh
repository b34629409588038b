#!/usr/bin/env bash
# Fetches the official FHIR R4 definitions and examples (npm package
# hl7.fhir.r4.examples@4.0.1, CC0) into ./vendor-r4/package (git-ignored).
# Needed only by the metadata generator and the example round-trip tests.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f vendor-r4/package/StructureDefinition-Patient.json ] && exit 0
command -v npm >/dev/null || { echo "npm not found" >&2; exit 1; }
mkdir -p vendor-r4
(cd vendor-r4 && npm pack --silent hl7.fhir.r4.examples@4.0.1 >/dev/null && tar xzf hl7.fhir.r4.examples-4.0.1.tgz && rm hl7.fhir.r4.examples-4.0.1.tgz)
