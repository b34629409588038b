//! Master patient index link state on PostgreSQL (see `crate::mpi`).

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;

use crate::mpi::{
    link_from_row, ordered_pair, sql, LinkQuery, LogQuery, LogRow, MpiChange, MpiLink, MpiLogEntry,
    MpiReview, Param, ReviewQuery, ReviewRow,
};
use crate::stamp::to_micros;
use crate::Result;

/// Applies link-state changes inside the open write transaction.
pub(super) async fn apply(
    conn: &mut PgConnection,
    changes: Vec<MpiChange>,
    at: OffsetDateTime,
) -> Result<()> {
    let at = to_micros(at);
    for change in changes {
        match change {
            MpiChange::SetLink(l) => {
                sqlx::query(sql::SET_LINK)
                    .bind(l.patient_id)
                    .bind(l.person_id)
                    .bind(l.kind.code())
                    .bind(l.score)
                    .bind(l.id_hash)
                    .bind(at)
                    .execute(&mut *conn)
                    .await?;
            }
            MpiChange::RemoveLink { patient_id } => {
                sqlx::query(sql::REMOVE_LINK)
                    .bind(patient_id)
                    .execute(&mut *conn)
                    .await?;
            }
            MpiChange::Log(e) => {
                sqlx::query(sql::LOG)
                    .bind(at)
                    .bind(e.actor)
                    .bind(e.request_id)
                    .bind(e.action.code())
                    .bind(e.patient_id)
                    .bind(e.person_id)
                    .bind(e.previous_person_id)
                    .bind(e.other_patient_id)
                    .bind(e.reason)
                    .bind(e.detail.to_string())
                    .execute(&mut *conn)
                    .await?;
            }
            MpiChange::NoLink {
                left,
                right,
                actor,
                reason,
            } => {
                let (a, b) = ordered_pair(&left, &right);
                sqlx::query(sql::NO_LINK)
                    .bind(a)
                    .bind(b)
                    .bind(actor)
                    .bind(reason)
                    .bind(at)
                    .execute(&mut *conn)
                    .await?;
            }
            MpiChange::QueueReview {
                patient_id,
                candidate_id,
                score,
                explanation,
            } => {
                sqlx::query(sql::QUEUE_REVIEW)
                    .bind(patient_id)
                    .bind(candidate_id)
                    .bind(score)
                    .bind(explanation.to_string())
                    .bind(at)
                    .execute(&mut *conn)
                    .await?;
            }
            MpiChange::DecideReview {
                id,
                status,
                actor,
                reason,
            } => {
                sqlx::query(sql::DECIDE_REVIEW)
                    .bind(status.code())
                    .bind(actor)
                    .bind(reason)
                    .bind(at)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    Ok(())
}

fn link(row: &PgRow) -> Result<MpiLink> {
    link_from_row(
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get::<&str, _>(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
    )
}

/// Current links selected by `query`.
pub(super) async fn links(conn: &mut PgConnection, query: &LinkQuery) -> Result<Vec<MpiLink>> {
    let rows = match query {
        LinkQuery::Person(person) => {
            sqlx::query(sql::LINKS_OF_PERSON)
                .bind(person)
                .fetch_all(conn)
                .await?
        }
        LinkQuery::IdHash(hash) => {
            sqlx::query(sql::LINKS_OF_HASH)
                .bind(hash)
                .fetch_all(conn)
                .await?
        }
        LinkQuery::After { patient, limit } => {
            sqlx::query(sql::LINKS_AFTER)
                .bind(patient)
                .bind(i64::try_from(*limit).unwrap_or(i64::MAX))
                .fetch_all(conn)
                .await?
        }
        LinkQuery::Patients(ids) => {
            sqlx::query(
                "SELECT patient_id, person_id, kind, score, id_hash, linked_at FROM mpi_link \
                 WHERE patient_id = ANY($1)",
            )
            .bind(ids)
            .fetch_all(conn)
            .await?
        }
    };
    rows.iter().map(link).collect()
}

/// Ids of live Patients without a link, oldest write first.
pub(super) async fn unlinked_patients(
    conn: &mut PgConnection,
    limit: usize,
) -> Result<Vec<String>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = sqlx::query(sql::UNLINKED)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// Every pair never to be linked automatically.
pub(super) async fn no_link_pairs(conn: &mut PgConnection) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(sql::NO_LINK_PAIRS).fetch_all(conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind<'q>(mut q: PgQuery<'q>, params: Vec<Param<'q>>) -> PgQuery<'q> {
    for p in params {
        q = match p {
            Param::Text(t) => q.bind(t),
            Param::Int(i) => q.bind(i),
        };
    }
    q
}

/// Link-log entries, oldest first.
pub(super) async fn log(conn: &mut PgConnection, query: &LogQuery) -> Result<Vec<MpiLogEntry>> {
    let (text, params) = crate::mpi::log_listing(query);
    let rows = bind(sqlx::query(&text), params).fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            LogRow {
                seq: r.try_get(0)?,
                at: r.try_get(1)?,
                actor: r.try_get(2)?,
                request_id: r.try_get(3)?,
                action: r.try_get(4)?,
                patient_id: r.try_get(5)?,
                person_id: r.try_get(6)?,
                previous_person_id: r.try_get(7)?,
                other_patient_id: r.try_get(8)?,
                reason: r.try_get(9)?,
                detail: r.try_get(10)?,
            }
            .into_entry()
        })
        .collect()
}

/// Review items, oldest first.
pub(super) async fn reviews(
    conn: &mut PgConnection,
    query: &ReviewQuery,
) -> Result<Vec<MpiReview>> {
    let (text, params) = crate::mpi::review_listing(query);
    let rows = bind(sqlx::query(&text), params).fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            ReviewRow {
                id: r.try_get(0)?,
                patient_id: r.try_get(1)?,
                candidate_id: r.try_get(2)?,
                score: r.try_get(3)?,
                explanation: r.try_get(4)?,
                status: r.try_get(5)?,
                created: r.try_get(6)?,
                decided: r.try_get(7)?,
                decided_by: r.try_get(8)?,
                reason: r.try_get(9)?,
            }
            .into_review()
        })
        .collect()
}
