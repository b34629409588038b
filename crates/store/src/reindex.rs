//! Rebuilding the search index rows of stored resources (`hutong reindex`), online and
//! resumably, after a search-parameter change.
//!
//! A job walks the current, non-deleted resources of the selected types in
//! `(resource_type, id)` order, one batch per database transaction. Each batch re-reads
//! the JSON inside its transaction (under the write locks the write path takes), replaces
//! the index rows of the selected parameters (all of them when none is named) and moves
//! the job's cursor (`reindex_job.after_type/after_id/done`) in the same transaction, so
//! an interrupted job resumes after the last committed batch and never redoes it.
//! Writes that run meanwhile index themselves with the registry in effect, and a batch
//! never writes rows from an older version over a newer one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hutong_search::IndexRows;

use crate::{Result, StoreError};

/// How often a running job logs its progress (the callback hears of every batch).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Batch size when [`ReindexSpec::batch_size`] is 0.
pub const DEFAULT_BATCH: usize = 500;

/// What to rebuild.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReindexSpec {
    /// Only resources of this type; every type when `None`.
    pub resource_type: Option<String>,
    /// Only the rows of these parameter codes (other rows are left as they are); every
    /// parameter when empty. Without `resource_type`, only the types that have one of
    /// these parameters are walked.
    pub params: Vec<String>,
    /// Start over even when an unfinished job with the same selector exists.
    pub restart: bool,
    /// Resources per transaction; [`DEFAULT_BATCH`] when 0.
    pub batch_size: usize,
}

impl ReindexSpec {
    /// The parameter codes as stored in `reindex_job.params`: sorted, distinct,
    /// comma-separated ('' for all).
    pub fn params_key(&self) -> String {
        let mut p: Vec<&str> = self.params.iter().map(String::as_str).collect();
        p.sort_unstable();
        p.dedup();
        p.join(",")
    }

    /// The resource types to walk, sorted by code point (the keyset order).
    fn types(&self) -> Vec<String> {
        let mut types: Vec<String> = match (&self.resource_type, self.params.is_empty()) {
            (Some(t), _) => vec![t.clone()],
            (None, false) => {
                let codes: Vec<&str> = self.params.iter().map(String::as_str).collect();
                hutong_search::registry()
                    .types_with_params(&codes)
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            }
            (None, true) => hutong_fhir::r4::metadata()
                .resource_types()
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
        };
        types.sort_unstable();
        types
    }
}

/// Where a job stands, after each committed batch.
#[derive(Debug, Clone, PartialEq)]
pub struct ReindexProgress {
    /// `reindex_job.id`.
    pub job: i64,
    /// Resources reindexed by the job so far, earlier interrupted runs included.
    pub done: u64,
    /// Resources reindexed by this run.
    pub done_now: u64,
    /// Resources the job walks in all (current count of the selected types).
    pub total: u64,
    /// The last resource committed, as `(resource_type, id)`.
    pub after: (String, String),
    /// Time since this run started.
    pub elapsed: Duration,
    /// Resources per second in this run.
    pub rate: f64,
    /// Estimated time left at that rate.
    pub eta: Option<Duration>,
}

/// What a progress callback tells the job to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReindexControl {
    /// Go on with the next batch.
    Continue,
    /// Stop after the batch just committed; a later run resumes from there.
    Stop,
}

/// The callback told after each committed batch.
pub type ReindexObserver<'a> = &'a (dyn Fn(&ReindexProgress) -> ReindexControl + Send + Sync);

/// The outcome of one run of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct ReindexReport {
    /// `reindex_job.id`.
    pub job: i64,
    /// Resources an earlier run of the same job had already done (0 for a new job).
    pub resumed_from: u64,
    /// Resources reindexed by this run.
    pub indexed: u64,
    /// Resources reindexed by the job in all.
    pub done: u64,
    /// Batches committed by this run.
    pub batches: u64,
    /// The job reached the end (`false` when stopped by the callback).
    pub finished: bool,
    /// Duration of this run.
    pub elapsed: Duration,
}

/// A job row as a run sees it.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub id: i64,
    pub after_type: String,
    pub after_id: String,
    pub done: u64,
}

/// The steps a backend provides; [`run`] drives them the same way for both.
#[async_trait]
pub(crate) trait ReindexBackend: Sync {
    /// The unfinished job with this selector, or a new one (always a new one when
    /// `restart`, which deletes the unfinished one).
    async fn open_job(&self, resource_type: &str, params: &str, restart: bool) -> Result<Job>;

    /// Current, non-deleted resources per type.
    async fn counts(&self) -> Result<HashMap<String, u64>>;

    /// Reindexes, in one transaction, up to `limit` resources of `resource_type` with
    /// ids after `after_id`, and moves the job's cursor from where `job` says it is to
    /// the last of them. Returns how many and the last id (`None` when there are none).
    /// Fails when the cursor is no longer where `job` says (another run of the job).
    async fn batch(
        &self,
        job: &Job,
        resource_type: &str,
        after_id: &str,
        params: &[String],
        limit: usize,
    ) -> Result<Option<(u64, String)>>;

    /// Marks the job finished.
    async fn finish_job(&self, job: i64) -> Result<()>;
}

/// Runs (or resumes) the job `spec` selects, batch by batch, telling `progress` after
/// each committed batch.
pub(crate) async fn run(
    backend: &dyn ReindexBackend,
    spec: &ReindexSpec,
    progress: ReindexObserver<'_>,
) -> Result<ReindexReport> {
    let started = Instant::now();
    let limit = if spec.batch_size == 0 {
        DEFAULT_BATCH
    } else {
        spec.batch_size
    };
    let types = spec.types();
    let mut job = backend
        .open_job(
            spec.resource_type.as_deref().unwrap_or(""),
            &spec.params_key(),
            spec.restart,
        )
        .await?;
    let counts = backend.counts().await?;
    let total: u64 = types.iter().filter_map(|t| counts.get(t)).sum();
    let resumed_from = job.done;
    if resumed_from > 0 {
        tracing::info!(
            job = job.id,
            done = job.done,
            after = %format!("{}/{}", job.after_type, job.after_id),
            "resuming reindex job"
        );
    }
    let mut report = ReindexReport {
        job: job.id,
        resumed_from,
        indexed: 0,
        done: job.done,
        batches: 0,
        finished: false,
        elapsed: Duration::ZERO,
    };
    let mut last_log = started;
    let start_type = job.after_type.clone();
    for rt in types.iter().filter(|t| **t >= start_type) {
        let mut after_id = if *rt == job.after_type {
            job.after_id.clone()
        } else {
            String::new()
        };
        loop {
            let Some((n, last)) = backend
                .batch(&job, rt, &after_id, &spec.params, limit)
                .await?
            else {
                break;
            };
            job.after_type.clone_from(rt);
            job.after_id.clone_from(&last);
            job.done += n;
            report.indexed += n;
            report.done = job.done;
            report.batches += 1;
            after_id = last;
            let elapsed = started.elapsed();
            let rate = report.indexed as f64 / elapsed.as_secs_f64().max(1e-6);
            let left = total.saturating_sub(job.done);
            let p = ReindexProgress {
                job: job.id,
                done: job.done,
                done_now: report.indexed,
                total,
                after: (job.after_type.clone(), job.after_id.clone()),
                elapsed,
                rate,
                eta: (rate > 0.0).then(|| Duration::from_secs_f64(left as f64 / rate)),
            };
            if last_log.elapsed() >= LOG_EVERY {
                last_log = Instant::now();
                tracing::info!(
                    job = job.id,
                    done = p.done,
                    total,
                    rate = format!("{rate:.0}/s"),
                    eta_s = p.eta.map_or(0, |d| d.as_secs()),
                    "reindex progress"
                );
            }
            if progress(&p) == ReindexControl::Stop {
                report.elapsed = started.elapsed();
                return Ok(report);
            }
        }
    }
    backend.finish_job(job.id).await?;
    report.finished = true;
    report.elapsed = started.elapsed();
    tracing::info!(
        job = job.id,
        indexed = report.indexed,
        done = report.done,
        seconds = report.elapsed.as_secs_f64(),
        "reindex finished"
    );
    Ok(report)
}

/// Keeps only the rows of `params` (all rows when `params` is empty).
pub(crate) fn keep_params(rows: &mut IndexRows, params: &[String]) {
    if params.is_empty() {
        return;
    }
    let keep = |p: &str| params.iter().any(|q| q == p);
    // Destructured so that a new kind of row cannot be forgotten here.
    let IndexRows {
        strings,
        tokens,
        dates,
        numbers,
        quantities,
        references,
        uris,
        composites,
    } = rows;
    strings.retain(|r| keep(r.param));
    tokens.retain(|r| keep(r.param));
    dates.retain(|r| keep(r.param));
    numbers.retain(|r| keep(r.param));
    quantities.retain(|r| keep(r.param));
    references.retain(|r| keep(r.param));
    uris.retain(|r| keep(r.param));
    composites.retain(|r| keep(r.param));
}

/// The error of a batch whose job cursor moved under it.
pub(crate) fn moved(job: i64) -> StoreError {
    StoreError::Database(format!(
        "reindex job {job} was advanced by another run; run `hutong reindex` again to resume it"
    ))
}

/// Microseconds since the Unix epoch, for the job's timestamps.
pub(crate) fn now_micros() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}
