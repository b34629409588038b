//! Per-operation results: counts, errors, latency percentiles, as text and JSON.

use crate::mix::Op;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Raw measurements of one operation (latencies in microseconds).
#[derive(Debug, Clone, Default)]
pub struct OpSamples {
    /// Latency of every successful request.
    pub latencies_us: Vec<u32>,
    /// Failed requests (transport error or status ≥ 400).
    pub errors: u64,
    /// Resources carried by successful requests (transactions: entries).
    pub resources: u64,
    /// First few error messages.
    pub error_samples: Vec<String>,
}

impl OpSamples {
    /// Merges another worker's samples.
    pub fn merge(&mut self, other: OpSamples) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        self.resources += other.resources;
        for e in other.error_samples {
            if self.error_samples.len() < 3 {
                self.error_samples.push(e);
            }
        }
    }
}

/// Summary of one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct OpReport {
    /// Operation.
    pub op: Op,
    /// Successful requests.
    pub ok: u64,
    /// Failed requests.
    pub errors: u64,
    /// Successful requests per second of the measured window.
    pub throughput: f64,
    /// Resources per second (creates: 1 per request; transactions: entries).
    pub resources_per_s: f64,
    /// Latency percentiles in milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
    /// First error messages.
    pub error_samples: Vec<String>,
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Target base URL.
    pub target: String,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Measured window (warm-up excluded).
    pub measured: Duration,
    /// Warm-up length.
    pub warmup: Duration,
    /// Per operation, in [`Op::ALL`] order.
    pub ops: Vec<OpReport>,
    /// CPU time the harness used in the measured window.
    pub harness_cpu: Duration,
    /// CPU time the server used in the measured window, with `--server-pid`.
    pub server_cpu: Option<Duration>,
    /// Resources seeded before the run.
    pub seeded_resources: u64,
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

/// Summarises the merged samples of a measured window.
pub fn summarise(samples: BTreeMap<Op, OpSamples>, measured: Duration) -> Vec<OpReport> {
    let secs = measured.as_secs_f64().max(1e-9);
    Op::ALL
        .into_iter()
        .filter_map(|op| {
            let mut s = samples.get(&op)?.clone();
            s.latencies_us.sort_unstable();
            let ok = s.latencies_us.len() as u64;
            Some(OpReport {
                op,
                ok,
                errors: s.errors,
                throughput: ok as f64 / secs,
                resources_per_s: s.resources as f64 / secs,
                p50_ms: percentile(&s.latencies_us, 0.50),
                p90_ms: percentile(&s.latencies_us, 0.90),
                p99_ms: percentile(&s.latencies_us, 0.99),
                max_ms: percentile(&s.latencies_us, 1.0),
                error_samples: s.error_samples,
            })
        })
        .collect()
}

impl Report {
    /// Total successful requests.
    pub fn total_ok(&self) -> u64 {
        self.ops.iter().map(|o| o.ok).sum()
    }

    /// Total failed requests.
    pub fn total_errors(&self) -> u64 {
        self.ops.iter().map(|o| o.errors).sum()
    }

    /// The human-readable table.
    pub fn text(&self) -> String {
        let secs = self.measured.as_secs_f64().max(1e-9);
        let mut s = format!(
            "target {}  clients {}  measured {:.1}s (warm-up {:.1}s excluded)  seeded {} resources\n",
            self.target,
            self.concurrency,
            secs,
            self.warmup.as_secs_f64(),
            self.seeded_resources
        );
        s.push_str(&format!(
            "{:<19} {:>9} {:>7} {:>10} {:>11} {:>8} {:>8} {:>8} {:>8}\n",
            "operation",
            "ok",
            "errors",
            "req/s",
            "resources/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms"
        ));
        for o in &self.ops {
            s.push_str(&format!(
                "{:<19} {:>9} {:>7} {:>10.1} {:>11.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}\n",
                o.op.name(),
                o.ok,
                o.errors,
                o.throughput,
                o.resources_per_s,
                o.p50_ms,
                o.p90_ms,
                o.p99_ms,
                o.max_ms
            ));
        }
        s.push_str(&format!(
            "{:<19} {:>9} {:>7} {:>10.1}\n",
            "total",
            self.total_ok(),
            self.total_errors(),
            self.total_ok() as f64 / secs
        ));
        s.push_str(&format!(
            "harness CPU {:.2}s = {:.0}% of one core",
            self.harness_cpu.as_secs_f64(),
            100.0 * self.harness_cpu.as_secs_f64() / secs
        ));
        if let Some(c) = self.server_cpu {
            s.push_str(&format!(
                "; server CPU {:.2}s = {:.0}% of one core",
                c.as_secs_f64(),
                100.0 * c.as_secs_f64() / secs
            ));
        }
        s.push('\n');
        for o in self.ops.iter().filter(|o| !o.error_samples.is_empty()) {
            s.push_str(&format!(
                "first errors of {}: {}\n",
                o.op,
                o.error_samples.join(" | ")
            ));
        }
        s
    }

    /// The same as JSON (for BENCHMARKS.md tooling).
    pub fn json(&self) -> Value {
        let secs = self.measured.as_secs_f64().max(1e-9);
        json!({
            "target": self.target,
            "concurrency": self.concurrency,
            "measured_s": secs,
            "warmup_s": self.warmup.as_secs_f64(),
            "seeded_resources": self.seeded_resources,
            "total": {"ok": self.total_ok(), "errors": self.total_errors(), "throughput": self.total_ok() as f64 / secs},
            "harness_cpu_s": self.harness_cpu.as_secs_f64(),
            "harness_cpu_share": self.harness_cpu.as_secs_f64() / secs,
            "server_cpu_s": self.server_cpu.map(|c| c.as_secs_f64()),
            "operations": self.ops.iter().map(|o| json!({
                "operation": o.op.name(),
                "ok": o.ok,
                "errors": o.errors,
                "throughput": o.throughput,
                "resources_per_s": o.resources_per_s,
                "p50_ms": o.p50_ms,
                "p90_ms": o.p90_ms,
                "p99_ms": o.p99_ms,
                "max_ms": o.max_ms,
                "error_samples": o.error_samples,
            })).collect::<Vec<_>>()
        })
    }
}
