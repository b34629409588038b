#!/usr/bin/env python3
"""Per-registration latency of write-time MPI linking through a running server.

1. `hutong mpi generate --records N+P` writes Chinese registrations (CSV);
2. the first N are converted to FHIR Patients (NDJSON) and loaded with `hutong import`
   (which links them at write time, in batches, building the golden records);
3. `hutong serve` starts on that database (the index is rebuilt from the store);
4. the last P are POSTed one by one (one client, keep-alive): each answer includes the
   Patient's commit *and* its linking transaction. Latency percentiles are printed, with
   the linking step alone read from the server's `MPI linked` debug events.

Usage: bench/mpi/server_latency.py --hutong target/release/hutong --records 200000 --probes 2000
       [--dir DIR --reuse] [--database postgres://…]
"""
import argparse, csv, http.client, json, os, re, subprocess, sys, tempfile, time

SEX = {"男": "male", "女": "female", "M": "male", "F": "female", "1": "male", "2": "female"}


def birth_date(s):
    digits = re.sub(r"\D", "", s or "")
    if len(digits) != 8:
        return None
    y, m, d = digits[:4], digits[4:6], digits[6:]
    try:
        time.strptime(f"{y}-{m}-{d}", "%Y-%m-%d")
    except ValueError:
        return None
    return f"{y}-{m}-{d}"


def patient(row, n):
    p = {"resourceType": "Patient", "name": [{"text": row["name"]}]}
    ident = [{"system": f"urn:oid:1.2.156.9.{n % 7}.mrn", "value": row["record_id"]}]
    if row["id_number"]:
        ident.insert(0, {"system": "urn:oid:2.16.156.10011.1.3", "value": row["id_number"]})
    p["identifier"] = ident
    if row["sex"] in SEX:
        p["gender"] = SEX[row["sex"]]
    bd = birth_date(row["dob"])
    if bd:
        p["birthDate"] = bd
    if row["phone"]:
        p["telecom"] = [{"system": "phone", "value": row["phone"]}]
    if row["address"]:
        p["address"] = [{"text": row["address"]}]
    return p


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int((len(xs) - 1) * q))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hutong", default="target/release/hutong")
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--probes", type=int, default=2000)
    ap.add_argument("--port", type=int, default=18097)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--database", default=None,
                    help="store URL (default: sqlite file in --dir); a PostgreSQL database must be empty")
    ap.add_argument("--reuse", action="store_true",
                    help="skip generation and import when --dir holds a finished import")
    a = ap.parse_args()
    work = a.dir or tempfile.mkdtemp(prefix="hutong-mpi-latency-")
    os.makedirs(work, exist_ok=True)
    csv_path = os.path.join(work, "regs.csv")
    db = a.database or f"sqlite://{work}/hutong.db"
    done_marker = os.path.join(work, "imported")
    if not (a.reuse and os.path.exists(done_marker)):
        subprocess.run([a.hutong, "mpi", "generate", "--records", str(a.records + a.probes),
                        "--seed", "7", "--output", csv_path], check=True)
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    load, probes = rows[: len(rows) - a.probes], rows[len(rows) - a.probes:]
    if a.reuse and os.path.exists(done_marker):
        print(f"reusing the database of {work} ({open(done_marker).read().strip()})", flush=True)
    else:
        nd = os.path.join(work, "patients.ndjson")
        with open(nd, "w", encoding="utf-8") as f:
            for i, r in enumerate(load):
                f.write(json.dumps(patient(r, i), ensure_ascii=False) + "\n")
        t = time.time()
        subprocess.run([a.hutong, "import", "--quiet", "--database", db, nd], check=True)
        took = f"imported and linked {len(load)} registrations in {time.time() - t:.1f}s"
        print(took, flush=True)
        open(done_marker, "w").write(took + "\n")
    log = open(os.path.join(work, "serve.log"), "w")
    env = dict(os.environ, HUTONG_LOG="info,hutong_server::mpi=debug")
    srv = subprocess.Popen([a.hutong, "serve", "--insecure-dev", "--database", db,
                            "--listen", f"127.0.0.1:{a.port}"], stderr=log, env=env)
    try:
        conn = None
        for _ in range(600):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", a.port)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.5)
        # The first write waits for the index to load; time it separately.
        t = time.time()
        times = []
        for i, r in enumerate(probes):
            body = json.dumps(patient(r, a.records + i), ensure_ascii=False).encode()
            s = time.perf_counter()
            conn.request("POST", "/fhir/Patient", body, {"Content-Type": "application/fhir+json",
                                                          "Prefer": "return=minimal"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 201:
                print("unexpected", resp.status, file=sys.stderr)
            times.append((time.perf_counter() - s) * 1000)
        first = times.pop(0)
        print(f"first write (waits for the index load): {first:.0f} ms")
        print(f"{len(times)} registrations POSTed one by one, index {len(load)}+: "
              f"p50 {pct(times, .5):.2f} ms p90 {pct(times, .9):.2f} ms p99 {pct(times, .99):.2f} ms max {max(times):.2f} ms")
        status = open(f"/proc/{srv.pid}/status").read()
        mem = {k: int(v.split()[0]) // 1024 for k, v in
               (l.split(":", 1) for l in status.splitlines()) if k in ("VmRSS", "VmHWM")}
        print(f"server memory after the probes: RSS {mem.get('VmRSS')} MB, peak {mem.get('VmHWM')} MB")
    finally:
        srv.terminate()
        srv.wait()
        log.close()
    linked = []
    for line in open(os.path.join(work, "serve.log"), encoding="utf-8", errors="replace"):
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        m = re.search(r"MPI linked.*elapsed_us=(\d+)", line) or re.search(r"elapsed_us=(\d+).*MPI linked", line)
        if m:
            linked.append(int(m.group(1)) / 1000)
    if linked:
        linked = linked[1:]
        print(f"linking step alone (match + golden-record transaction): p50 {pct(linked, .5):.2f} ms "
              f"p99 {pct(linked, .99):.2f} ms max {max(linked):.2f} ms ({len(linked)} events)")


if __name__ == "__main__":
    main()
