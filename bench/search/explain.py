#!/usr/bin/env python3
"""Query plans of the benchmark's search shapes (bench/search/run.sh).

    explain.py sqlite PATH.db      # EXPLAIN QUERY PLAN + run time (sqlite3 CLI)
    explain.py postgres            # EXPLAIN (ANALYZE, BUFFERS) (psql, $PGDB)

The SQL is written by hand after crates/store/src/search/mod.rs (`plan`,
`include_queries`): keep the two in step when that file changes. Values are taken from
the database: the patient of the first HbA1c observation, its ID number and surname,
and the quarter starting at that observation's month.
"""
import datetime
import os
import subprocess
import sys

LOINC = "http://loinc.org"
HBA1C = "4548-4"
BP = "85354-9"
ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"
SQLITE_PLAN = os.environ.get("SQLITE_PLAN")  # bench/search/sqlite-plan, built by run.sh
COLS = "r.resource_type, r.id, r.version, r.seq, r.last_updated, r.deleted, r.kind, r.json"


class Db:
    def __init__(self, kind, path):
        self.kind = kind
        self.path = path

    def rows(self, sql):
        if self.kind == "sqlite":
            cmd = ["sqlite3", "-batch", "-separator", "\t", self.path, sql]
        else:
            cmd = ["psql", "-U", "postgres", "-d", os.environ.get("PGDB", "hutong_bench"),
                   "-X", "-A", "-t", "-F", "\t", "-c", sql]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def top(self, s):
        """s followed by the largest code point: the upper bound of a prefix range."""
        return f"'{s}' || " + ("char(1114111)" if self.kind == "sqlite" else "chr(1114111)")

    def order_id(self):
        return 'q.id COLLATE "C"' if self.kind == "postgres" else "q.id"

    def explain(self, title, sql):
        print(f"### {title}\n\n```sql\n{sql};\n```\n")
        if self.kind == "sqlite" and SQLITE_PLAN:
            # the SQLite hutong bundles: its planner differs from the system shell's
            script = sql
            cmd = [SQLITE_PLAN, self.path]
        elif self.kind == "sqlite":
            script = f"EXPLAIN QUERY PLAN {sql};\n.timer on\n.once /dev/null\n{sql};\n"
            cmd = ["sqlite3", "-batch", self.path]
        else:
            script = f"EXPLAIN (ANALYZE, BUFFERS) {sql};\n"
            cmd = ["psql", "-U", "postgres", "-d", os.environ.get("PGDB", "hutong_bench"),
                   "-X", "-q"]
        out = subprocess.run(cmd, input=script, check=True, capture_output=True,
                             text=True).stdout
        print(f"```\n{out.rstrip()}\n```\n", flush=True)


def micros(year, month):
    d = datetime.datetime(year, month, 1, tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 1_000_000


def token(rt, param, system, code):
    return (f"r.id IN (SELECT x.id FROM idx_token x WHERE x.resource_type = '{rt}' AND "
            f"x.param = '{param}' AND ((x.code = '{code}' AND x.system = '{system}')))")


def date_filter(db, cmp, value):
    """A filter after the driving one (search/mod.rs `open_filter`): correlated EXISTS
    since schema migration 5; OLD_SQL=1 writes the IN form of before."""
    if os.environ.get("OLD_SQL"):
        return (f"r.id IN (SELECT x.id FROM idx_date x WHERE x.resource_type = 'Observation' AND "
                f"x.param = 'date' AND ({cmp} {value}))")
    hint = " INDEXED BY idx_date_resource" if db.kind == "sqlite" else ""
    return (f"EXISTS (SELECT 1 FROM idx_date x{hint} WHERE x.id = r.id AND x.resource_type = "
            f"'Observation' AND x.param = 'date' AND ({cmp} {value}))")


def patient_ref(rt, patient):
    """`patient=ID`, a bare id as the harness sends it: no target type in the SQL."""
    return (f"r.id IN (SELECT x.id FROM idx_reference x WHERE x.resource_type = '{rt}' AND "
            f"x.param = 'patient' AND (x.target_id = '{patient}'))")


def page(db, rt, filters, limit=51, sort=""):
    keys = ""
    order = db.order_id()
    if sort:
        keys = f", {sort} AS k0"
        order = f"(q.k0 IS NULL), q.k0 DESC, {order}"
    where = " AND ".join(filters)
    return (f"SELECT q.* FROM (SELECT {COLS}{keys} FROM resource r WHERE NOT r.deleted AND "
            f"r.resource_type = '{rt}' AND {where}) q ORDER BY {order} LIMIT {limit}")


def driver(rt, param, system, code):
    """The driving token filter of an index-driven query (search/mod.rs `index_driven`)."""
    return (f"SELECT x.id AS id FROM idx_token x WHERE x.resource_type = '{rt}' AND "
            f"x.param = '{param}' AND ((x.code = '{code}' AND x.system = '{system}'))")


def by_target(db):
    """SQLite names the target index for a lookup by target id (search/mod.rs `open_filter`)."""
    return " INDEXED BY idx_reference_target" if db.kind == "sqlite" else ""


def index_page(rt, select, others=(), limit=51):
    """Two-step page (search/mod.rs `index_page`): ids from the index tables, then rows."""
    where = "".join(f" AND {f.replace('= r.id', '= d.id')}" for f in others)
    return (f"SELECT {COLS} FROM (SELECT DISTINCT d.id FROM ({select}) d WHERE 1 = 1{where} "
            f"ORDER BY d.id LIMIT {limit}) p CROSS JOIN resource r WHERE r.resource_type = '{rt}' "
            "AND r.id = p.id AND NOT r.deleted ORDER BY r.id")


def main():
    kind = sys.argv[1]
    db = Db(kind, sys.argv[2] if len(sys.argv) > 2 else "")
    obs, effective = db.rows(
        "SELECT x.id, d.low FROM idx_token x JOIN idx_date d ON d.resource_type = x.resource_type "
        f"AND d.id = x.id AND d.param = 'date' WHERE x.resource_type = 'Observation' AND "
        f"x.param = 'code' AND x.code = '{HBA1C}' ORDER BY x.id LIMIT 1")[0]
    patient = db.rows("SELECT target_id FROM idx_reference WHERE resource_type = 'Observation' "
                      f"AND id = '{obs}' AND param = 'patient'")[0][0]
    ident = db.rows(f"SELECT code FROM idx_token WHERE resource_type = 'Patient' AND id = '{patient}' "
                    f"AND param = 'identifier' AND system = '{ID_SYSTEM}'")[0][0]
    family = db.rows(f"SELECT norm FROM idx_string WHERE resource_type = 'Patient' AND id = '{patient}' "
                     "AND param = 'family' LIMIT 1")[0][0][:1]
    when = datetime.datetime.fromtimestamp(int(effective) / 1e6, datetime.timezone.utc)
    start = micros(when.year, when.month)
    k = when.year * 12 + when.month - 1 + 3
    end = micros(k // 12, k % 12 + 1)
    print(f"# Query plans ({kind}): patient {patient}, surname {family}, "
          f"quarter from {when:%Y-%m}\n")

    hba1c = token("Observation", "code", LOINC, HBA1C)
    db.explain("search-compartment: Observation?patient=X&_sort=-date&_count=50", page(
        db, "Observation", [patient_ref("Observation", patient)],
        sort="(SELECT MAX(x.high) FROM idx_date x WHERE x.resource_type = r.resource_type "
             "AND x.id = r.id AND x.param = 'date')"))
    db.explain("search-token: Observation?code=http://loinc.org|4548-4",
               index_page("Observation", driver("Observation", "code", LOINC, HBA1C)))
    db.explain("search-token-date: Observation?code=…|4548-4&date=ge…&date=lt…", index_page(
        "Observation", driver("Observation", "code", LOINC, HBA1C),
        [date_filter(db, "x.high >=", start), date_filter(db, "x.low <", end)]))
    db.explain(f"search-name: Patient?name={family}", index_page("Patient",
        "SELECT x.id AS id FROM idx_string x WHERE x.resource_type = 'Patient' AND "
        f"x.param = 'name' AND ((x.norm >= '{family}' AND x.norm < {db.top(family)}))"))
    db.explain("search-identifier: Patient?identifier=…",
               index_page("Patient", driver("Patient", "identifier", ID_SYSTEM, ident)))
    db.explain("search-chain: Observation?subject:Patient.identifier=…", index_page("Observation",
        f"SELECT x0.id AS id FROM idx_reference x0{by_target(db)} WHERE x0.resource_type = 'Observation' AND "
        "x0.param = 'subject' AND x0.target_type = 'Patient' AND x0.target_id IN ("
        + driver("Patient", "identifier", ID_SYSTEM, ident).replace(" AS id", "") + ")"))
    db.explain("search-has: Patient?_has:Observation:patient:code=…|4548-4", index_page("Patient",
        "SELECT x0.target_id AS id FROM idx_reference x0 WHERE x0.resource_type = 'Observation' "
        "AND x0.param = 'patient' AND x0.target_type = 'Patient' AND x0.id IN ("
        + driver("Observation", "code", LOINC, HBA1C).replace(" AS id", "") + ")",
        ["EXISTS (SELECT 1 FROM resource r WHERE r.resource_type = 'Patient' AND r.id = d.id "
         "AND NOT r.deleted)"]))
    reports = index_page("DiagnosticReport",
        f"SELECT x.id AS id FROM idx_reference x{by_target(db)} WHERE x.resource_type = "
        f"'DiagnosticReport' AND x.param = 'patient' AND (x.target_id = '{patient}')")
    db.explain("search-include, page: DiagnosticReport?patient=X", reports)
    ids = [r[0] for r in db.rows(f"SELECT id FROM ({reports}) p")] or ["none"]
    db.explain("search-include, include round: _include=DiagnosticReport:result",
               f"SELECT {COLS} FROM resource r WHERE NOT r.deleted AND (r.resource_type, r.id) IN "
               "(SELECT x.target_type, x.target_id FROM idx_reference x WHERE x.resource_type = "
               "'DiagnosticReport' AND x.param = 'result' AND x.target_id <> '' AND x.id IN ("
               + ", ".join(f"'{i}'" for i in ids[:50]) + ")) ORDER BY r.resource_type, r.id")
    encounters = page(db, "Encounter", [patient_ref("Encounter", patient)])
    ids = [r[0] for r in db.rows(f"SELECT id FROM ({encounters}) p")] or ["none"]
    db.explain("search-revinclude, revinclude round: Encounter?patient=X&_revinclude=Condition:encounter",
               f"SELECT {COLS} FROM resource r WHERE r.resource_type = 'Condition' AND NOT r.deleted "
               "AND r.id IN (SELECT x.id FROM idx_reference x WHERE x.resource_type = 'Condition' AND "
               "x.param = 'encounter' AND x.target_type = 'Encounter' AND x.target_id IN ("
               + ", ".join(f"'{i}'" for i in ids[:50]) + ")) ORDER BY r.resource_type, r.id")
    db.explain("search-count: Observation?code=…|85354-9&_summary=count",
               "SELECT COUNT(*) FROM (SELECT DISTINCT d.id FROM ("
               + driver("Observation", "code", LOINC, BP) + ") d WHERE 1 = 1) c")


if __name__ == "__main__":
    main()
