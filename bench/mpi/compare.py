#!/usr/bin/env python3
"""Compare `hutong mpi link` with Splink (DuckDB) and Python recordlinkage (ECM).

Same files, same run, same pairwise scoring: precision / recall / F1 of the pairs each
tool declares a match, against the true entity in the record ids (FEBRL `rec-N-org` /
`rec-N-dup-K`; `hutong mpi generate` `PN-k`; a `hutong synth` region's ground-truth.csv).

Usage (from the workspace root):
    cargo build --release -p hutong-server
    python3 bench/mpi/compare.py                 # FEBRL 1-4
    python3 bench/mpi/compare.py --chinese 100000 --chinese 1000000 [--splink-chinese 100000]
    python3 bench/mpi/compare.py --skip-febrl --synth 20000   # a `hutong synth` region's registrations
    python3 bench/mpi/compare.py --hutong path/to/hutong …   # another build

hutong's rows also give its review queue (pairs decided `review`) per 100 records.

Creates bench/mpi/.venv (git-ignored) and installs bench/mpi/requirements.txt on first run.
"""
import argparse
import csv
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(HERE, ".venv")
FEBRL = os.path.join(ROOT, "..", "shared", "testdata", "febrl")
BIN = os.path.join(ROOT, "target", "release", "hutong")
OUT = os.path.join(HERE, "out")


def ensure_venv():
    py = os.path.join(VENV, "bin", "python")
    # A venv's python is a symlink to the base interpreter: compare prefixes, not paths.
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([py, "-m", "pip", "install", "-q", "-r", os.path.join(HERE, "requirements.txt")])
    os.execv(py, [py] + sys.argv)


def entity(rec_id):
    m = re.match(r"rec-(\d+)-", rec_id) or re.match(r"P(\d+)-", rec_id)
    return m.group(1) if m else rec_id


def true_pairs(ids_by_source, entity_of=None):
    entity_of = entity_of or entity
    by_entity = {}
    for src, ids in enumerate(ids_by_source):
        for i in ids:
            by_entity.setdefault(entity_of(i), []).append((src, i))
    pairs = set()
    cross = len(ids_by_source) > 1
    for members in by_entity.values():
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                (sa, ia), (sb, ib) = members[a], members[b]
                if cross and sa == sb:
                    continue
                pairs.add(frozenset((ia, ib)))
    return pairs


def score(pred, truth):
    pred = {frozenset(p) for p in pred if len(set(p)) == 2}
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 1.0
    r = tp / len(truth) if truth else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f, len(pred)


def run_hutong(files, mapping):
    os.makedirs(OUT, exist_ok=True)
    links = os.path.join(OUT, "links.csv")
    cmd = [BIN, "mpi", "link", "--input", *files, "--output", links, "--mapping", mapping]
    timer = ["/usr/bin/time", "-f", "%M"] if os.path.exists("/usr/bin/time") else []
    t = time.perf_counter()
    res = subprocess.run(timer + cmd, capture_output=True, text=True)
    secs = time.perf_counter() - t
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    rss = None
    if timer:
        try:
            rss = int(res.stderr.strip().splitlines()[-1]) / 1024
        except (ValueError, IndexError):
            pass
    pairs, review = [], 0
    with open(links, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["decision"] == "link":
                pairs.append((row["left_id"], row["right_id"]))
            elif row["decision"] == "review":
                review += 1
    return pairs, secs, rss, review


FEBRL_COLS = ["rec_id", "given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state", "date_of_birth", "soc_sec_id"]


def read_febrl(path):
    import pandas as pd

    df = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    df.columns = [c.strip() for c in df.columns]
    df = df.map(lambda v: v.strip() if isinstance(v, str) else v).replace("", None)
    return df


def run_recordlinkage_febrl(dfs):
    import pandas as pd
    import recordlinkage

    t = time.perf_counter()
    frames = [d.set_index("rec_id") for d in dfs]
    pairs = None
    for key in ["given_name", "surname", "date_of_birth", "soc_sec_id", "postcode"]:
        ix = recordlinkage.Index()
        ix.block(key)
        p = ix.index(*frames)
        pairs = p if pairs is None else pairs.union(p)
    cmp = recordlinkage.Compare()
    cmp.exact("given_name", "given_name", label="given_name")
    cmp.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    cmp.exact("date_of_birth", "date_of_birth", label="date_of_birth")
    cmp.exact("suburb", "suburb", label="suburb")
    cmp.exact("state", "state", label="state")
    cmp.string("address_1", "address_1", method="levenshtein", threshold=0.85, label="address_1")
    cmp.exact("soc_sec_id", "soc_sec_id", label="soc_sec_id")
    cmp.exact("postcode", "postcode", label="postcode")
    features = cmp.compute(pairs, *frames)
    ecm = recordlinkage.ECMClassifier()
    matches = ecm.fit_predict(features)
    secs = time.perf_counter() - t
    return [(a, b) for a, b in matches], secs


def run_splink(dfs, comparisons, blocking, training_blocks, id_col):
    import pandas as pd
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t = time.perf_counter()
    frames = []
    for d in dfs:
        d = d.copy()
        d["unique_id"] = d[id_col]
        frames.append(d)
    settings = SettingsCreator(
        link_type="dedupe_only" if len(frames) == 1 else "link_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=[block_on(*b) for b in blocking],
    )
    linker = Linker(frames if len(frames) > 1 else frames[0], settings, db_api=DuckDBAPI())
    linker.training.estimate_probability_two_random_records_match([block_on(*b) for b in training_blocks[:1]], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    for b in training_blocks:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*b))
    pred = linker.inference.predict(threshold_match_probability=0.99).as_pandas_dataframe()
    secs = time.perf_counter() - t
    return list(zip(pred["unique_id_l"], pred["unique_id_r"])), secs


def febrl_splink(dfs):
    import splink.comparison_library as cl

    comparisons = [
        cl.JaroWinklerAtThresholds("given_name", [0.9, 0.7]),
        cl.JaroWinklerAtThresholds("surname", [0.9, 0.7]),
        cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
        cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
        cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
        cl.ExactMatch("street_number"),
        cl.ExactMatch("suburb"),
        cl.LevenshteinAtThresholds("postcode", [1]),
    ]
    blocking = [["given_name", "surname"], ["date_of_birth"], ["soc_sec_id"], ["postcode", "street_number"]]
    training = [["date_of_birth"], ["surname", "given_name"]]
    return run_splink(dfs, comparisons, blocking, training, "rec_id")


def chinese_splink(df):
    import splink.comparison_library as cl

    comparisons = [
        cl.JaroWinklerAtThresholds("name", [0.9, 0.7]),
        cl.ExactMatch("sex"),
        cl.LevenshteinAtThresholds("dob", [1, 2]),
        cl.LevenshteinAtThresholds("id_number", [1, 2]),
        cl.LevenshteinAtThresholds("phone", [1]),
        cl.JaroWinklerAtThresholds("address", [0.9, 0.7]),
    ]
    blocking = [["id_number"], ["dob"], ["phone"], ["name"]]
    training = [["dob"], ["name"]]
    return run_splink([df], comparisons, blocking, training, "record_id")


def row(table, data, tool, res, truth, secs, n, rss=None, review=None):
    p, r, f, npred = score(res, truth)
    per100 = None if review is None else review * 100 / n
    table.append((data, tool, p, r, f, npred, secs, n / secs if secs else 0, rss, per100))


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--chinese", type=int, action="append", default=[], help="also link N generated Chinese records")
    ap.add_argument("--splink-chinese", type=int, default=0, help="run Splink on the generated set of this size")
    ap.add_argument("--synth", type=int, action="append", default=[], help="also link the registrations of a `hutong synth` region of N residents, against its ground truth")
    ap.add_argument("--skip-febrl", action="store_true")
    ap.add_argument("--hutong", default=BIN, help="hutong binary (default: the release build)")
    args = ap.parse_args()
    BIN = os.path.abspath(args.hutong)
    ensure_venv()
    import pandas as pd

    if not os.path.exists(BIN):
        sys.exit(f"{BIN} missing: cargo build --release -p hutong-server")
    table = []
    sets = [] if args.skip_febrl else [("FEBRL1", ["dataset1.csv"]), ("FEBRL2", ["dataset2.csv"]), ("FEBRL3", ["dataset3.csv"]), ("FEBRL4", ["dataset4a.csv", "dataset4b.csv"])]
    for name, files in sets:
        paths = [os.path.join(FEBRL, f) for f in files]
        dfs = [read_febrl(p) for p in paths]
        truth = true_pairs([list(d["rec_id"]) for d in dfs])
        n = sum(len(d) for d in dfs)
        res, secs, rss, review = run_hutong(paths, "febrl")
        row(table, name, "hutong", res, truth, secs, n, rss, review)
        res, secs = run_splink_safe(febrl_splink, dfs)
        row(table, name, "splink", res, truth, secs, n)
        res, secs = run_recordlinkage_febrl(dfs)
        row(table, name, "recordlinkage", res, truth, secs, n)
    for size in args.chinese:
        os.makedirs(OUT, exist_ok=True)
        path = os.path.join(OUT, f"chinese_{size}.csv")
        if not os.path.exists(path):
            subprocess.check_call([BIN, "mpi", "generate", "--records", str(size), "--seed", "7", "--output", path])
        df = pd.read_csv(path, dtype=str, keep_default_na=False).replace("", None)
        truth = true_pairs([list(df["record_id"])])
        res, secs, rss, review = run_hutong([path], "chinese")
        row(table, f"chinese{size}", "hutong", res, truth, secs, len(df), rss, review)
        if size == args.splink_chinese:
            res, secs = run_splink_safe(chinese_splink, df)
            row(table, f"chinese{size}", "splink", res, truth, secs, len(df))
    for residents in args.synth:
        region = os.path.join(OUT, f"synth_{residents}")
        path = os.path.join(region, "registrations.csv")
        if not os.path.exists(os.path.join(region, "ground-truth.csv")):
            subprocess.check_call([BIN, "synth", "--residents", str(residents), "--seed", "7", "--no-clinical", "--format", "ndjson", "--out", region], stdout=subprocess.DEVNULL)
        with open(os.path.join(region, "ground-truth.csv"), newline="", encoding="utf-8") as f:
            person = {r["patient_id"]: r["person_id"] for r in csv.DictReader(f)}
        df = pd.read_csv(path, dtype=str, keep_default_na=False).replace("", None)
        truth = true_pairs([list(df["record_id"])], person.__getitem__)
        res, secs, rss, review = run_hutong([path], "chinese")
        row(table, f"synth{residents}", "hutong", res, truth, secs, len(df), rss, review)
        if residents == args.splink_chinese:
            res, secs = run_splink_safe(chinese_splink, df)
            row(table, f"synth{residents}", "splink", res, truth, secs, len(df))
    print()
    print(f"{'data':14} {'tool':14} {'precision':>9} {'recall':>7} {'F1':>7} {'pairs':>8} {'secs':>8} {'rec/s':>9} {'RSS MB':>7} {'review/100':>10}")
    for d, t, p, r, f, npred, secs, rps, rss, per100 in table:
        print(f"{d:14} {t:14} {p:9.4f} {r:7.4f} {f:7.4f} {npred:8d} {secs:8.2f} {rps:9.0f} {'-' if rss is None else round(rss):>7} {'-' if per100 is None else f'{per100:.2f}':>10}")


def run_splink_safe(fn, *a):
    try:
        return fn(*a)
    except Exception as e:  # report, do not hide the other tools' figures
        print(f"splink failed: {e}", file=sys.stderr)
        return [], 0.0


if __name__ == "__main__":
    main()
