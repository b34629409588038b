//! Master patient index link state on SQLite (see `crate::mpi`).

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, Row};
use time::OffsetDateTime;

use crate::mpi::{
    link_from_row, ordered_pair, sql, LinkQuery, LogQuery, LogRow, MpiChange, MpiLink, MpiLogEntry,
    MpiReview, Param, ReviewQuery, ReviewRow, LINK_QUERY_CHUNK,
};
use crate::stamp::to_micros;
use crate::Result;

fn sql_value(p: Param<'_>) -> SqlValue {
    match p {
        Param::Text(t) => SqlValue::Text(t.to_owned()),
        Param::Int(i) => SqlValue::Integer(i),
    }
}

/// `$n` placeholders as SQLite's numbered `?n`.
fn q(text: &str) -> String {
    text.replace('$', "?")
}

/// Applies link-state changes inside the open write transaction.
pub(super) fn apply(conn: &Connection, changes: Vec<MpiChange>, at: OffsetDateTime) -> Result<()> {
    let at = to_micros(at);
    for change in changes {
        match change {
            MpiChange::SetLink(l) => {
                conn.prepare_cached(&q(sql::SET_LINK))?.execute(params![
                    l.patient_id,
                    l.person_id,
                    l.kind.code(),
                    l.score,
                    l.id_hash,
                    at
                ])?;
            }
            MpiChange::RemoveLink { patient_id } => {
                conn.prepare_cached(&q(sql::REMOVE_LINK))?
                    .execute(params![patient_id])?;
            }
            MpiChange::Log(e) => {
                conn.prepare_cached(&q(sql::LOG))?.execute(params![
                    at,
                    e.actor,
                    e.request_id,
                    e.action.code(),
                    e.patient_id,
                    e.person_id,
                    e.previous_person_id,
                    e.other_patient_id,
                    e.reason,
                    e.detail.to_string()
                ])?;
            }
            MpiChange::NoLink {
                left,
                right,
                actor,
                reason,
            } => {
                let (a, b) = ordered_pair(&left, &right);
                conn.prepare_cached(&q(sql::NO_LINK))?
                    .execute(params![a, b, actor, reason, at])?;
            }
            MpiChange::QueueReview {
                patient_id,
                candidate_id,
                score,
                explanation,
            } => {
                conn.prepare_cached(&q(sql::QUEUE_REVIEW))?
                    .execute(params![
                        patient_id,
                        candidate_id,
                        score,
                        explanation.to_string(),
                        at
                    ])?;
            }
            MpiChange::DecideReview {
                id,
                status,
                actor,
                reason,
            } => {
                conn.prepare_cached(&q(sql::DECIDE_REVIEW))?
                    .execute(params![status.code(), actor, reason, at, id])?;
            }
        }
    }
    Ok(())
}

/// The columns of an `mpi_link` row: patient, person, kind, score, hash, linked_at.
type LinkRow = (String, String, String, Option<f64>, Option<String>, i64);

fn link_row(r: &Row<'_>) -> rusqlite::Result<LinkRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn collect_links(
    rows: impl Iterator<Item = rusqlite::Result<LinkRow>>,
    out: &mut Vec<MpiLink>,
) -> Result<()> {
    for row in rows {
        let (patient, person, kind, score, hash, at) = row?;
        out.push(link_from_row(patient, person, &kind, score, hash, at)?);
    }
    Ok(())
}

/// Current links selected by `query`.
pub(super) fn links(conn: &Connection, query: &LinkQuery) -> Result<Vec<MpiLink>> {
    let mut out = Vec::new();
    match query {
        LinkQuery::Person(person) => {
            let mut stmt = conn.prepare_cached(&q(sql::LINKS_OF_PERSON))?;
            collect_links(stmt.query_map([person], link_row)?, &mut out)?;
        }
        LinkQuery::IdHash(hash) => {
            let mut stmt = conn.prepare_cached(&q(sql::LINKS_OF_HASH))?;
            collect_links(stmt.query_map([hash], link_row)?, &mut out)?;
        }
        LinkQuery::After { patient, limit } => {
            let limit = i64::try_from(*limit).unwrap_or(i64::MAX);
            let mut stmt = conn.prepare_cached(&q(sql::LINKS_AFTER))?;
            collect_links(
                stmt.query_map(rusqlite::params![patient, limit], link_row)?,
                &mut out,
            )?;
        }
        LinkQuery::Patients(ids) => {
            for chunk in ids.chunks(LINK_QUERY_CHUNK) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let mut stmt = conn.prepare(&format!(
                    "SELECT patient_id, person_id, kind, score, id_hash, linked_at FROM mpi_link \
                     WHERE patient_id IN ({marks})"
                ))?;
                collect_links(stmt.query_map(params_from_iter(chunk), link_row)?, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// Ids of live Patients without a link, oldest write first.
pub(super) fn unlinked_patients(conn: &Connection, limit: usize) -> Result<Vec<String>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&q(sql::UNLINKED))?;
    let rows = stmt.query_map([limit], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Every pair never to be linked automatically.
pub(super) fn no_link_pairs(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(&q(sql::NO_LINK_PAIRS))?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Link-log entries, oldest first.
pub(super) fn log(conn: &Connection, query: &LogQuery) -> Result<Vec<MpiLogEntry>> {
    let (text, values) = crate::mpi::log_listing(query);
    let mut stmt = conn.prepare(&q(&text))?;
    let values = values.into_iter().map(sql_value);
    let rows = stmt.query_map(params_from_iter(values), |r| {
        Ok(LogRow {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            request_id: r.get(3)?,
            action: r.get(4)?,
            patient_id: r.get(5)?,
            person_id: r.get(6)?,
            previous_person_id: r.get(7)?,
            other_patient_id: r.get(8)?,
            reason: r.get(9)?,
            detail: r.get(10)?,
        })
    })?;
    rows.map(|r| r?.into_entry()).collect()
}

/// Review items, oldest first.
pub(super) fn reviews(conn: &Connection, query: &ReviewQuery) -> Result<Vec<MpiReview>> {
    let (text, values) = crate::mpi::review_listing(query);
    let mut stmt = conn.prepare(&q(&text))?;
    let values = values.into_iter().map(sql_value);
    let rows = stmt.query_map(params_from_iter(values), |r| {
        Ok(ReviewRow {
            id: r.get(0)?,
            patient_id: r.get(1)?,
            candidate_id: r.get(2)?,
            score: r.get(3)?,
            explanation: r.get(4)?,
            status: r.get(5)?,
            created: r.get(6)?,
            decided: r.get(7)?,
            decided_by: r.get(8)?,
            reason: r.get(9)?,
        })
    })?;
    rows.map(|r| r?.into_review()).collect()
}
