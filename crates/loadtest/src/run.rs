//! Seeding the server and driving it: C workers, each looping over operations drawn
//! from the mix, until the duration or the request budget is spent.

use crate::cpu;
use crate::mix::{Mix, Op};
use crate::query::{search_request, SearchValues, LOINC, SELECTIVE_CODE};
use crate::report::{summarise, OpSamples, Report};
use hutong_synth::{transaction_bundle, BundleMode, Config, Region};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// FHIR base URL, e.g. `http://127.0.0.1:8080/fhir`.
    pub target: String,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Measured duration (ignored when `requests` is set).
    pub duration: Duration,
    /// Measured request count instead of a duration.
    pub requests: Option<u64>,
    /// Warm-up excluded from the figures.
    pub warmup: Duration,
    /// Operation weights.
    pub mix: Mix,
    /// Residents of the synthetic region loaded first (their ids are read back); 0
    /// loads nothing and samples the values from what the server already holds.
    pub seed_residents: u64,
    /// Seed of the synthetic region.
    pub seed: u64,
    /// Process id of the server, to report its CPU time.
    pub server_pid: Option<u32>,
}

/// The load test could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// HTTP client set-up failed.
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// Seeding the server failed.
    #[error("seeding the server failed: {0}")]
    Seed(String),
    /// The synthetic region could not be built.
    #[error("synthetic region: {0}")]
    Region(String),
}

/// CPU times (harness, server) when measuring began; set by the first worker to start.
type CpuMark = Arc<std::sync::Mutex<Option<(Duration, Option<Duration>)>>>;

/// Ids and payloads the workers draw from.
struct Pool {
    /// `Type/id` of every seeded resource.
    reads: Vec<String>,
    /// Patient ids, ID numbers, names and dates the searches use.
    search: SearchValues,
    /// Resources to create (without id): Patients and Observations.
    creates: Vec<(String, Vec<u8>)>,
    /// Residents' resources, posted again as transactions with fresh URNs.
    residents: Vec<Vec<Value>>,
}

/// Seeds the server, warms up, measures, and reports.
pub async fn run(options: &Options) -> Result<Report, LoadError> {
    let target = options.target.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency.max(1))
        .tcp_nodelay(true)
        .build()?;
    let (pool, seeded) = seed(&client, &target, options).await?;
    let pool = Arc::new(pool);

    let started = Instant::now();
    let measure_from = started + options.warmup;
    let stop_at = options
        .requests
        .map_or(measure_from + options.duration, |_| {
            // A request budget ends the run; this is only a safety net.
            measure_from + Duration::from_secs(24 * 3600)
        });
    let budget = Arc::new(AtomicU64::new(options.requests.unwrap_or(u64::MAX)));
    let cpu_at_start: CpuMark = Arc::new(std::sync::Mutex::new(None));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..options.concurrency.max(1) {
        let ctx = Worker {
            client: client.clone(),
            target: target.clone(),
            pool: Arc::clone(&pool),
            mix: options.mix.clone(),
            rng: 0x9e37_79b9_7f4a_7c15 ^ (w as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d),
            counter: 0,
            id: w as u64,
        };
        let budget = Arc::clone(&budget);
        let cpu_at_start = Arc::clone(&cpu_at_start);
        let server_pid = options.server_pid;
        workers.spawn(ctx.drive(measure_from, stop_at, budget, cpu_at_start, server_pid));
    }
    let mut merged: BTreeMap<Op, OpSamples> = BTreeMap::new();
    let mut last_end = Instant::now();
    while let Some(done) = workers.join_next().await {
        if let Ok((samples, end)) = done {
            last_end = last_end.max(end);
            for (op, s) in samples {
                merged.entry(op).or_default().merge(s);
            }
        }
    }
    let end = Instant::now().min(last_end.max(measure_from));
    let measured = end.saturating_duration_since(measure_from);
    let (cpu0, server0) = cpu_at_start.lock().ok().and_then(|g| *g).unwrap_or((
        cpu::self_cpu(),
        options.server_pid.and_then(cpu::process_cpu),
    ));
    let harness_cpu = cpu::self_cpu().saturating_sub(cpu0);
    let server_cpu = match (options.server_pid.and_then(cpu::process_cpu), server0) {
        (Some(now), Some(then)) => Some(now.saturating_sub(then)),
        _ => None,
    };
    Ok(Report {
        target,
        concurrency: options.concurrency.max(1),
        measured,
        warmup: options.warmup,
        ops: summarise(merged, measured),
        harness_cpu,
        server_cpu,
        seeded_resources: seeded,
    })
}

async fn seed(
    client: &reqwest::Client,
    target: &str,
    options: &Options,
) -> Result<(Pool, u64), LoadError> {
    if options.seed_residents == 0 {
        return Ok((sample(client, target).await?, 0));
    }
    let region = Region::new(Config {
        residents: options.seed_residents.max(1),
        seed: options.seed,
        ..Config::default()
    })
    .map_err(|e| LoadError::Region(e.to_string()))?;
    let mut pool = Pool {
        reads: Vec::new(),
        search: SearchValues::default(),
        creates: Vec::new(),
        residents: Vec::new(),
    };
    let reference = region.reference_resources();
    post_bundle(
        client,
        target,
        &transaction_bundle(&reference, BundleMode::Put),
    )
    .await?;
    let mut seeded = reference.len() as u64;
    for resident in region.residents() {
        post_bundle(
            client,
            target,
            &transaction_bundle(&resident.resources, BundleMode::Put),
        )
        .await?;
        seeded += resident.resources.len() as u64;
        for r in &resident.resources {
            let rt = r["resourceType"].as_str().unwrap_or("");
            let id = r["id"].as_str().unwrap_or("");
            pool.reads.push(format!("{rt}/{id}"));
            pool.search.absorb(r);
            if (rt == "Patient" || rt == "Observation") && pool.creates.len() < 2000 {
                let mut copy = r.clone();
                if let Some(o) = copy.as_object_mut() {
                    o.remove("id");
                }
                pool.creates
                    .push((rt.to_owned(), serde_json::to_vec(&copy).unwrap_or_default()));
            }
        }
        pool.residents.push(resident.resources);
    }
    if pool.reads.is_empty() || pool.search.patients.is_empty() || pool.creates.is_empty() {
        return Err(LoadError::Seed(
            "the synthetic region produced no resources".into(),
        ));
    }
    tracing::info!(resources = seeded, "seeded");
    Ok((pool, seeded))
}

/// Patients sampled from a server that already holds data (`--seed-residents 0`).
const SAMPLE_PATIENTS: usize = 1000;

/// Fills the pool from what the server already holds, without writing anything: a
/// page of Patients (ids, ID numbers, names) and a page of HbA1c Observations (their
/// months, so the token + date search finds some).
/// Transactions need a seeded region; creates copy the sampled Patients.
async fn sample(client: &reqwest::Client, target: &str) -> Result<Pool, LoadError> {
    let mut pool = Pool {
        reads: Vec::new(),
        search: SearchValues::default(),
        creates: Vec::new(),
        residents: Vec::new(),
    };
    let patients = format!("{target}/Patient?_count={SAMPLE_PATIENTS}");
    let observations = format!(
        "{target}/Observation?code={}&_count=500",
        crate::query::percent_encode(&format!("{LOINC}|{SELECTIVE_CODE}"))
    );
    // any observation's month when no HbA1c was found (small regions)
    let any_observations = format!("{target}/Observation?_count=500");
    for url in [patients, observations, any_observations] {
        if url.ends_with("Observation?_count=500") && !pool.search.months.is_empty() {
            continue;
        }
        for r in search_page(client, &url).await? {
            let rt = r["resourceType"].as_str().unwrap_or("");
            let id = r["id"].as_str().unwrap_or("");
            pool.reads.push(format!("{rt}/{id}"));
            pool.search.absorb(&r);
            if rt == "Patient" && pool.creates.len() < 500 {
                let mut copy = r.clone();
                if let Some(o) = copy.as_object_mut() {
                    o.remove("id");
                    o.remove("meta");
                }
                pool.creates
                    .push((rt.to_owned(), serde_json::to_vec(&copy).unwrap_or_default()));
            }
        }
    }
    if pool.search.patients.is_empty() {
        return Err(LoadError::Seed(format!(
            "{target} holds no Patient to sample (use --seed-residents N to load some)"
        )));
    }
    tracing::info!(
        patients = pool.search.patients.len(),
        months = pool.search.months.len(),
        "sampled the server's data"
    );
    Ok(pool)
}

/// The matched resources of one search page.
async fn search_page(client: &reqwest::Client, url: &str) -> Result<Vec<Value>, LoadError> {
    let fail = |e: String| LoadError::Seed(format!("GET {url}: {e}"));
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| fail(e.to_string()))?;
    if !status.is_success() {
        return Err(fail(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        )));
    }
    let mut bundle: Value = serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))?;
    Ok(bundle["entry"]
        .as_array_mut()
        .map(std::mem::take)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["search"]["mode"] != "include")
        .map(|mut e| e["resource"].take())
        .collect())
}

async fn post_bundle(
    client: &reqwest::Client,
    target: &str,
    bundle: &Value,
) -> Result<(), LoadError> {
    let body = serde_json::to_vec(bundle).map_err(|e| LoadError::Seed(e.to_string()))?;
    let resp = client
        .post(target)
        .header("content-type", "application/fhir+json")
        .body(body)
        .send()
        .await
        .map_err(|e| LoadError::Seed(format!("POST {target}: {e}")))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Err(LoadError::Seed(format!(
            "POST {target}: {status}: {}",
            text.chars().take(300).collect::<String>()
        )))
    }
}

struct Worker {
    client: reqwest::Client,
    target: String,
    pool: Arc<Pool>,
    mix: Mix,
    rng: u64,
    counter: u64,
    id: u64,
}

impl Worker {
    fn next(&mut self) -> u64 {
        // xorshift64*: a worker's own cheap stream; reproducibility is not needed here.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n.max(1) as u128) >> 64) as usize
    }

    async fn drive(
        mut self,
        measure_from: Instant,
        stop_at: Instant,
        budget: Arc<AtomicU64>,
        cpu_at_start: CpuMark,
        server_pid: Option<u32>,
    ) -> (BTreeMap<Op, OpSamples>, Instant) {
        let mut samples: BTreeMap<Op, OpSamples> = BTreeMap::new();
        let total = self.mix.total();
        loop {
            let now = Instant::now();
            if now >= stop_at {
                break;
            }
            let measuring = now >= measure_from;
            if measuring {
                if let Ok(mut g) = cpu_at_start.lock() {
                    if g.is_none() {
                        *g = Some((cpu::self_cpu(), server_pid.and_then(cpu::process_cpu)));
                    }
                }
                // Take one request from the budget; stop when it is spent.
                if budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                    .is_err()
                {
                    break;
                }
            }
            let draw = self.next() % total.max(1);
            let op = self.mix.pick(draw);
            let began = Instant::now();
            let result = self.send(op).await;
            let elapsed = began.elapsed();
            if !measuring {
                continue;
            }
            let s = samples.entry(op).or_default();
            match result {
                Ok(resources) => {
                    s.latencies_us
                        .push(elapsed.as_micros().min(u128::from(u32::MAX)) as u32);
                    s.resources += resources;
                }
                Err(e) => {
                    s.errors += 1;
                    if s.error_samples.len() < 3 {
                        s.error_samples.push(e);
                    }
                }
            }
        }
        (samples, Instant::now())
    }

    /// Sends one request; `Ok(resources written)` on success.
    async fn send(&mut self, op: Op) -> Result<u64, String> {
        let pool = Arc::clone(&self.pool);
        let (req, resources) = match op {
            Op::Read => {
                let r = &pool.reads[self.below(pool.reads.len())];
                (self.client.get(format!("{}/{r}", self.target)), 0)
            }
            Op::History => {
                let patients = &pool.search.patients;
                let p = &patients[self.below(patients.len())];
                (
                    self.client
                        .get(format!("{}/Patient/{p}/_history", self.target)),
                    0,
                )
            }
            Op::Create => {
                let (rt, body) = &pool.creates[self.below(pool.creates.len())];
                (
                    self.client
                        .post(format!("{}/{rt}", self.target))
                        .header("content-type", "application/fhir+json")
                        .body(body.clone()),
                    1,
                )
            }
            Op::Transaction => {
                let k = self.below(pool.residents.len());
                let resident = pool
                    .residents
                    .get(k)
                    .ok_or("transactions need a seeded region (--seed-residents N)")?;
                self.counter += 1;
                let salt = (self.id << 40) ^ self.counter ^ self.next();
                let body =
                    serde_json::to_vec(&transaction_bundle(resident, BundleMode::Post { salt }))
                        .map_err(|e| e.to_string())?;
                (
                    self.client
                        .post(&self.target)
                        .header("content-type", "application/fhir+json")
                        .body(body),
                    resident.len() as u64,
                )
            }
            search => {
                let request = search_request(search, &pool.search, &mut |n| self.below(n))?;
                (self.client.get(request.url(&self.target)), 0)
            }
        };
        let resp = req.send().await.map_err(|e| format!("{op}: {e}"))?;
        let status = resp.status();
        // Read the whole body: a client that stops early does not measure the server.
        let body = resp.bytes().await.map_err(|e| format!("{op}: {e}"))?;
        if status.is_success() {
            Ok(resources)
        } else {
            Err(format!(
                "{op}: {status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ))
        }
    }
}
