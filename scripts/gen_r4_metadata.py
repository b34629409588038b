#!/usr/bin/env python3
"""Generates crates/fhir/src/r4/elements.txt from the official FHIR R4 definitions.

Input: vendor-r4/package/ (npm package hl7.fhir.r4.examples@4.0.1, fetched by
scripts/fetch-r4-examples.sh, git-ignored). Output: one compact text file that the
`hutong-fhir` crate embeds with include_str! and parses once at first use.

Why a generated text file and not generated Rust: a few thousand lines of data parse
in a couple of milliseconds, compile instantly, and diff readably when the generator
changes.

Format (one record per line, fields separated by single spaces; no field contains a
space):

    # comment
    T <name> <kind> <base-or--> <abstract 0|1>
        A type: every StructureDefinition with derivation `specialization` (plus the
        roots Element and Resource, which have no derivation). kind is `primitive`,
        `complex` or `resource`.
    E <relative-path> <min> <max> <types> [S]
        An element of the last T, from the snapshot, path without the leading type
        name (`contact.name` for `Patient.contact.name`). max is a number or `*`.
        types is `|`-separated FHIR type codes (`Quantity|string`), or
        `#<Type.path>` for a contentReference (`#Questionnaire.item`). The value
        element of a primitive keeps its FHIRPath system type (`System.String`).
        Choice elements keep their `[x]` suffix (`value[x]`); the crate expands them
        to JSON names (`valueQuantity`) when it loads the file. A trailing `S` marks
        an `isSummary` element (the `_summary=true` view).
    C <ResourceType> <path> [<path> ...]
        Patient-compartment element paths of a resource type, in the order of the
        CompartmentDefinition's params (R4 compartmentdefinition-patient.html), from
        the search parameters' expressions, `.where(resolve() is Patient)` stripped;
        a primary-subject path (subject, patient, beneficiary …) is moved first.

Usage: python3 scripts/gen_r4_metadata.py [vendor-r4/package] [crates/fhir/src/r4/elements.txt]
"""

import glob
import json
import os
import re
import sys

FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/"
KINDS = {"primitive-type": "primitive", "complex-type": "complex", "resource": "resource"}
PRIMARY = ["subject", "patient", "beneficiary", "candidate", "individual"]
SIMPLE_PATH = re.compile(r"^[A-Za-z]+(\.[A-Za-z]+)+$")


def type_codes(sd_type, kind, elem):
    """The FHIR type codes of a snapshot element."""
    path = elem["path"]
    if "contentReference" in elem:
        return "#" + elem["contentReference"].split("#", 1)[1]
    parts = path.split(".")
    # R4 resource.html#id: the logical id of a resource is an `id`, though the
    # snapshot states it as System.String.
    if kind == "resource" and len(parts) == 2 and parts[1] == "id":
        return "id"
    codes = []
    for t in elem.get("type", []):
        code = t["code"]
        if code.startswith(SYSTEM_PREFIX):
            if kind == "primitive" and len(parts) == 2 and parts[1] == "value":
                code = code[len(SYSTEM_PREFIX):]
            else:
                mapped = [e["valueUrl"] for e in t.get("extension", []) if e["url"] == FHIR_TYPE_EXT]
                code = mapped[0] if mapped else code[len(SYSTEM_PREFIX):]
        if code not in codes:
            codes.append(code)
    if not codes:
        raise SystemExit(f"{sd_type}: element {path} has no type")
    return "|".join(codes)


def load_types(pkg):
    types = []
    for f in sorted(glob.glob(os.path.join(pkg, "StructureDefinition-*.json"))):
        with open(f, encoding="utf-8") as fh:
            sd = json.load(fh)
        kind = KINDS.get(sd.get("kind"))
        if kind is None:  # logical models
            continue
        derivation = sd.get("derivation")
        if derivation == "constraint":  # profiles
            continue
        if derivation is None and sd["type"] not in ("Element", "Resource"):
            continue
        if sd["type"] != sd["id"]:
            continue
        base = sd.get("baseDefinition")
        base = base.rsplit("/", 1)[1] if base else "-"
        types.append((sd["type"], kind, base, bool(sd.get("abstract")), sd["snapshot"]["element"]))
    order = {"primitive": 0, "complex": 1, "resource": 2}
    types.sort(key=lambda t: (order[t[1]], t[0]))
    return types


def compartment(pkg, resource_types):
    with open(os.path.join(pkg, "CompartmentDefinition-patient.json"), encoding="utf-8") as fh:
        cd = json.load(fh)
    params = {}
    for f in glob.glob(os.path.join(pkg, "SearchParameter-*.json")):
        with open(f, encoding="utf-8") as fh:
            sp = json.load(fh)
        for base in sp.get("base", []):
            params[(base, sp["code"])] = sp.get("expression", "")
    out = []
    for r in cd["resource"]:
        rt = r["code"]
        if rt not in resource_types or not r.get("param"):
            continue
        paths = []
        for p in r["param"]:
            if p == "{def}":
                continue
            expr = params.get((rt, p))
            if expr is None:
                raise SystemExit(f"compartment: no search parameter {rt}.{p}")
            for part in expr.split("|"):
                part = part.strip().replace(".where(resolve() is Patient)", "")
                if part.startswith("(") and part.endswith(")"):
                    part = part[1:-1]
                if not part.startswith(rt + ".") or not SIMPLE_PATH.match(part):
                    continue
                rel = part[len(rt) + 1:]
                if rel not in paths:
                    paths.append(rel)
        # The compartment lists every param that can point at a Patient; the
        # resource's primary subject (DESIGN.md: a clinical resource belongs to the
        # compartment of its primary subject) goes first, so a Coverage is keyed by
        # its beneficiary, not by a policyHolder that happens to be a Patient.
        primary = [p for p in PRIMARY if p in paths]
        paths = primary + [p for p in paths if p not in primary]
        if paths:
            out.append((rt, paths))
    return out


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pkg = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "vendor-r4", "package")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "crates", "fhir", "src", "r4", "elements.txt")
    types = load_types(pkg)
    lines = [
        "# Generated by scripts/gen_r4_metadata.py from hl7.fhir.r4.examples@4.0.1. Do not edit.",
        "# T name kind base abstract | E path min max types | C ResourceType paths...",
    ]
    for name, kind, base, abstract, elements in types:
        lines.append(f"T {name} {kind} {base} {int(abstract)}")
        for e in elements[1:]:
            path = e["path"]
            if not path.startswith(name + "."):
                raise SystemExit(f"{name}: unexpected path {path}")
            summary = " S" if e.get("isSummary") else ""
            lines.append(f"E {path[len(name) + 1:]} {e['min']} {e['max']} {type_codes(name, kind, e)}{summary}")
    resource_types = {t[0] for t in types if t[1] == "resource"}
    for rt, paths in compartment(pkg, resource_types):
        lines.append(f"C {rt} {' '.join(paths)}")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {dst}: {len(types)} types, {len(lines)} lines, {os.path.getsize(dst)} bytes")


if __name__ == "__main__":
    main()
