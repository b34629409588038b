//! The harness against a real in-process server on a loopback port.

use hutong_loadtest::mix::{Mix, Op};
use hutong_loadtest::run::{run, Options};
use hutong_server::app::{serve, AppState};
use hutong_server::config::Config;
use std::sync::Arc;
use std::time::Duration;

async fn start_server() -> (String, std::path::PathBuf) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = std::env::temp_dir().join(format!("hutong-loadtest-{}-{n}.db", std::process::id()));
    let url = format!("sqlite://{}", file.display());
    let store = hutong_store::open(&url).await.expect("database opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let config = Config {
        insecure_dev: true,
        listen: addr,
        database: url,
        ..Config::default()
    };
    let state = AppState::new(Arc::clone(&store), config);
    tokio::spawn(async move {
        let _ = serve(listener, state).await;
    });
    (format!("http://{addr}/fhir"), file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_second_mixed_load_reports_every_operation_without_errors() {
    let (target, file) = start_server().await;
    let options = Options {
        target,
        concurrency: 4,
        duration: Duration::from_secs(2),
        requests: None,
        warmup: Duration::from_millis(300),
        mix: Mix::parse("read=60,create=20,transaction=10,history=10").expect("mix"),
        seed_residents: 10,
        seed: 3,
        server_pid: Some(std::process::id()),
    };
    let report = run(&options).await.expect("load test runs");
    assert!(report.seeded_resources > 50);
    assert_eq!(report.total_errors(), 0, "{}", report.text());
    for op in [Op::Read, Op::Create, Op::Transaction, Op::History] {
        let o = report
            .ops
            .iter()
            .find(|o| o.op == op)
            .unwrap_or_else(|| panic!("{op} missing: {}", report.text()));
        assert!(o.ok > 0, "{op}");
        assert!(
            o.p50_ms > 0.0 && o.p50_ms <= o.p90_ms && o.p90_ms <= o.p99_ms && o.p99_ms <= o.max_ms,
            "{op}: {o:?}"
        );
        assert!(o.throughput > 0.0);
    }
    let tx = report
        .ops
        .iter()
        .find(|o| o.op == Op::Transaction)
        .expect("transaction");
    assert!(
        tx.resources_per_s > tx.throughput,
        "a transaction carries several resources"
    );
    assert!(report.measured >= Duration::from_millis(1900));
    assert!(report.harness_cpu > Duration::ZERO);
    let json = report.json();
    assert_eq!(
        json["operations"].as_array().map(Vec::len),
        Some(report.ops.len())
    );
    assert!(report.text().contains("p99 ms"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_budget_sends_exactly_that_many_measured_requests() {
    let (target, file) = start_server().await;
    let options = Options {
        target,
        concurrency: 3,
        duration: Duration::from_secs(60),
        requests: Some(150),
        warmup: Duration::ZERO,
        mix: Mix::parse("read=1").expect("mix"),
        seed_residents: 3,
        seed: 1,
        server_pid: None,
    };
    let report = run(&options).await.expect("runs");
    assert_eq!(report.total_ok() + report.total_errors(), 150);
    assert_eq!(report.total_errors(), 0);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_search_shape_answers_on_seeded_and_on_sampled_data() {
    let (target, file) = start_server().await;
    let searches: Vec<Op> = Op::ALL.into_iter().filter(|o| o.is_search()).collect();
    let mix = searches
        .iter()
        .map(|o| format!("{o}=1"))
        .collect::<Vec<_>>()
        .join(",");
    let mut options = Options {
        target,
        concurrency: 2,
        duration: Duration::from_millis(1500),
        requests: None,
        warmup: Duration::ZERO,
        mix: Mix::parse(&mix).expect("mix"),
        seed_residents: 12,
        seed: 5,
        server_pid: None,
    };
    // first seeded, then (nothing written) values sampled from what the server holds
    for seed_residents in [12, 0] {
        options.seed_residents = seed_residents;
        let report = run(&options).await.expect("load test runs");
        assert_eq!(report.total_errors(), 0, "{}", report.text());
        for op in &searches {
            let o = report.ops.iter().find(|o| o.op == *op);
            assert!(o.is_some_and(|o| o.ok > 0), "{op}: {}", report.text());
        }
        if seed_residents == 0 {
            assert_eq!(report.seeded_resources, 0);
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}

#[test]
fn mixes_parse_and_bad_ones_are_refused_with_the_reason() {
    let m = Mix::parse("read=60, create=20,transaction=10,history=10,search-patient=0")
        .expect("parses");
    assert_eq!(m.total(), 100);
    assert_eq!(m.pick(0), Op::Read);
    assert_eq!(m.pick(99), Op::History);
    assert!(Mix::parse("read").is_err());
    assert!(Mix::parse("fly=3").is_err());
    assert!(Mix::parse("read=0").is_err());
    assert_eq!(
        Mix::parse("search-patient=1").expect("the earlier name").0,
        [(Op::SearchIdentifier, 1)]
    );
    let unknown = Mix::parse("fly=3").expect_err("unknown").to_string();
    assert!(unknown.contains("search-revinclude"), "{unknown}");
}

#[test]
fn non_loopback_targets_are_refused_unless_allowed() {
    use hutong_synth::cli::check_loopback;
    assert!(check_loopback("http://127.0.0.1:8080/fhir", false).is_ok());
    assert!(check_loopback("http://localhost:8080/fhir", false).is_ok());
    assert!(check_loopback("http://[::1]:8080/fhir", false).is_ok());
    assert!(check_loopback("http://10.0.0.5:8080/fhir", false).is_err());
    assert!(check_loopback("http://example.org/fhir", false).is_err());
    assert!(check_loopback("http://example.org/fhir", true).is_ok());
}
