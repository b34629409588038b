//! `sqlite-plan DB < statements.sql`: for each statement (separated by lines holding
//! only `;`), prints SQLite's `EXPLAIN QUERY PLAN` as a tree and the time of a full run,
//! with the same SQLite as hutong (rusqlite, bundled), whose planner may differ from
//! the system `sqlite3` shell's.

use rusqlite::Connection;
use std::io::Read;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: sqlite-plan DB < statements")?;
    let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    println!("SQLite {}", rusqlite::version());
    for sql in input.split("\n;\n").map(str::trim).filter(|s| !s.is_empty()) {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(3)?))
        })?;
        let mut depth: Vec<(i64, usize)> = Vec::new();
        println!("QUERY PLAN");
        for row in rows {
            let (id, parent, detail) = row?;
            while depth.last().is_some_and(|&(p, _)| p != parent) {
                depth.pop();
            }
            let level = depth.last().map_or(0, |&(_, l)| l + 1);
            println!("{}`--{detail}", "   ".repeat(level));
            depth.push((id, level));
        }
        let started = Instant::now();
        let mut stmt = conn.prepare(sql)?;
        let n = stmt.query_map([], |_| Ok(()))?.count();
        println!("rows {n}, run time {:.1} ms\n", started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(())
}
