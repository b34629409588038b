#!/usr/bin/env python3
"""Derives the compact tables that hutong-synth embeds from ../shared/reference/cn.

Facts only (GB/T 2260 division codes, NBS 2023 township codes, GB 3304, GB/T 2261.2,
WS 364 CV04.50.005/020). One province is enough for a synthetic region, so only
Zhejiang (33) is kept. Run from the repository root:

    python3 crates/synth/scripts/gen_synth_tables.py [../shared/reference/cn]

Writes crates/synth/data/divisions.tsv and crates/synth/data/codes.tsv.
"""
import csv
import os
import sys

PROVINCE = "33"
ref = sys.argv[1] if len(sys.argv) > 1 else os.path.join("..", "shared", "reference", "cn")
div = os.path.join(ref, "divisions")
out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")

union = set()
with open(os.path.join(div, "all_codes_1980_2019_union.tsv"), encoding="utf-8") as f:
    for row in csv.DictReader(f, delimiter="\t"):
        union.add(row["code"])

rows = []
with open(os.path.join(div, "provinces.csv"), encoding="utf-8") as f:
    for r in csv.DictReader(f):
        if r["code"] == PROVINCE:
            rows.append(("province", r["code"] + "0000", r["name"], ""))
with open(os.path.join(div, "cities.csv"), encoding="utf-8") as f:
    for r in csv.DictReader(f):
        if r["provinceCode"] == PROVINCE:
            rows.append(("city", r["code"] + "00", r["name"], PROVINCE + "0000"))
counties = set()
with open(os.path.join(div, "areas.csv"), encoding="utf-8") as f:
    for r in csv.DictReader(f):
        # Only counties whose code is a GB/T 2260 code (1980-2019): an ID number issued
        # there carries it, so generated ID numbers pass a region-code check.
        if r["provinceCode"] == PROVINCE and r["code"] in union:
            counties.add(r["code"])
            rows.append(("county", r["code"], r["name"], r["cityCode"] + "00"))
with open(os.path.join(div, "streets.csv"), encoding="utf-8") as f:
    for r in csv.DictReader(f):
        if r["areaCode"] in counties:
            rows.append(("township", r["code"], r["name"], r["areaCode"]))

with open(os.path.join(out_dir, "divisions.tsv"), "w", encoding="utf-8", newline="\n") as f:
    f.write("# level\tcode\tname\tparent -- derived by scripts/gen_synth_tables.py from GB/T 2260 and NBS 2023 codes\n")
    for r in rows:
        f.write("\t".join(r) + "\n")

codes = []
def take(name, table, code_col, display_col, keep=None):
    with open(os.path.join(ref, "codes", name), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if keep is None or r[code_col] in keep:
                codes.append((table, r[code_col], r[display_col]))

take("gb_3304_1991_ethnicity.csv", "ethnicity", "code", "display_zh")
take("gb_t_2261_2_2003_marital_status.csv", "marital", "code", "display_zh", {"10", "20", "30", "40", "90"})
take("cv04_50_005_abo_blood_group.csv", "abo", "code", "display_zh")
take("cv04_50_020_rh_blood_group.csv", "rh", "code", "display_zh")
with open(os.path.join(out_dir, "codes.tsv"), "w", encoding="utf-8", newline="\n") as f:
    f.write("# table\tcode\tdisplay -- derived by scripts/gen_synth_tables.py (GB 3304-1991, GB/T 2261.2-2003, WS 364 CV04.50.005/020)\n")
    for r in codes:
        f.write("\t".join(r) + "\n")
print(f"{len(rows)} divisions, {len(codes)} codes")
