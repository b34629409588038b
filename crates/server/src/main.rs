//! The `hutong` command line: `serve`, `import`, `reindex` and the tools.
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use hutong_server::app::{serve, AppState};
use hutong_server::config::{default_database, Config, ServeArgs};
use hutong_server::import::{collect_files, import_file};
use hutong_store::AccessContext;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Hutong (互通): regional population-health information platform, FHIR R4.
#[derive(Parser)]
#[command(name = "hutong", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the FHIR server (embedded SQLite store by default).
    Serve(ServeArgs),
    /// Load FHIR Bundles (.json) and NDJSON files (.ndjson) into a database.
    Import(ImportArgs),
    /// Rebuild search indexes after a search-parameter change (online, resumable).
    Reindex(ReindexArgs),
    /// Generate a synthetic health region (FHIR R4) deterministically.
    Synth(hutong_synth::cli::SynthArgs),
    /// Replay realistic FHIR traffic against a running server and report latencies.
    Loadtest(hutong_loadtest::cli::LoadtestArgs),
    /// Master patient index tools (batch linkage, training).
    Mpi(hutong_mpi::cli::MpiArgs),
    /// Evaluate a FHIRPath expression against a resource (FILE, or stdin) and print the
    /// result collection as a JSON array.
    Fhirpath {
        /// The FHIRPath expression, e.g. `Patient.name.given.first()`.
        expression: String,
        /// JSON resource file; stdin when absent.
        file: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct ImportArgs {
    /// Database URL (`sqlite://PATH` or `postgres://…`).
    #[arg(long, env = "HUTONG_DATABASE_URL", default_value_t = default_database())]
    database: String,
    /// Files processed at the same time.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    /// Files or directories (walked recursively for .json and .ndjson).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Imported Patients are linked by the master patient index, as on the server.
    #[command(flatten)]
    mpi: hutong_server::config::MpiArgs,
}

#[derive(clap::Args)]
struct ReindexArgs {
    /// Database URL (`sqlite://PATH` or `postgres://…`).
    #[arg(long, env = "HUTONG_DATABASE_URL", default_value_t = default_database())]
    database: String,
    /// Only resources of this type.
    #[arg(long = "type", value_name = "TYPE")]
    resource_type: Option<String>,
    /// Only the index rows of this search parameter (repeatable, or comma-separated).
    #[arg(long = "param", value_name = "CODE")]
    params: Vec<String>,
    /// Start over instead of resuming an unfinished job with the same selector.
    #[arg(long)]
    restart: bool,
    /// Resources per transaction.
    #[arg(long, default_value_t = hutong_store::DEFAULT_BATCH)]
    batch: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Fhirpath { expression, file } = &cli.command {
        return run_fhirpath(expression, file.as_deref());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(run_serve(args)),
        Command::Import(args) => runtime.block_on(run_import(args)),
        Command::Reindex(args) => runtime.block_on(run_reindex(args)),
        Command::Synth(args) => runtime
            .block_on(hutong_synth::cli::run(args))
            .map_err(|e| anyhow::anyhow!(e)),
        Command::Loadtest(args) => runtime
            .block_on(hutong_loadtest::cli::run(args))
            .map_err(|e| anyhow::anyhow!(e)),
        Command::Mpi(args) => runtime
            .block_on(hutong_mpi::cli::run(args))
            .map_err(|e| anyhow::anyhow!(e)),
        Command::Fhirpath { .. } => Ok(()),
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HUTONG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Creates the directory of an embedded database file.
fn prepare_database(url: &str) -> anyhow::Result<()> {
    if url.starts_with("postgres") || url.contains(":memory:") {
        return Ok(());
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = path.split('?').next().unwrap_or(path);
    if let Some(dir) = std::path::Path::new(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    Ok(())
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(&args)?;
    init_logging(config.log_json);
    if config.tokens.is_empty() && !config.insecure_dev {
        anyhow::bail!("no access tokens configured: pass --token TOKEN (or [[tokens]] in the config file), or --insecure-dev for local development");
    }
    if config.insecure_dev {
        tracing::warn!("--insecure-dev: requests without a bearer token are accepted as a development user; never use this in production");
    }
    hutong_server::mpi::Mpi::new(&config.mpi).context("cannot load the MPI configuration")?;
    prepare_database(&config.database)?;
    let store = hutong_store::open(&config.database)
        .await
        .with_context(|| format!("cannot open database {}", redact(&config.database)))?;
    hutong_server::search_parameters::install_stored(
        store.as_ref(),
        &AccessContext::system("hutong-serve"),
    )
    .await
    .context("cannot load the custom search parameters")?;
    let (listen, demo_residents) = (config.listen, config.demo_residents);
    let state = AppState::new(store, config);
    if let Some(mpi) = &state.mpi {
        mpi.claim(state.store.as_ref())
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the MPI: {}", e.summary()))?;
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(listen = %listener.local_addr()?, store = state.store.backend(), "hutong serving FHIR R4 at /fhir");
    if let Some(residents) = demo_residents {
        // The server answers at once; the demo region fills in behind it.
        let store = Arc::clone(&state.store);
        tokio::spawn(async move {
            if let Err(e) = hutong_server::demo::load_if_empty(store, residents).await {
                tracing::error!(error = %e, "demo region could not be loaded");
            }
        });
    }
    serve(listener, state).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Hides a password in a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    init_logging(false);
    prepare_database(&args.database)?;
    let files = collect_files(&args.paths)?;
    let store = hutong_store::open(&args.database)
        .await
        .with_context(|| format!("cannot open database {}", redact(&args.database)))?;
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(files.len() as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} files  {msg}  [{elapsed_precise}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mpi_config = hutong_server::config::MpiConfig::from_args(&args.mpi)?;
    if let Some(mpi) =
        hutong_server::mpi::start(&store, &mpi_config).context("cannot start the MPI")?
    {
        mpi.claim(store.as_ref())
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the MPI: {}", e.summary()))?;
    }
    let ctx = AccessContext::system("hutong-import");
    let start = Instant::now();
    let mut total = 0u64;
    let mut failed = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    let mut pending = files.into_iter();
    loop {
        while set.len() < args.concurrency.max(1) {
            let Some(path) = pending.next() else { break };
            let store = Arc::clone(&store);
            let ctx = ctx.clone();
            set.spawn(async move { import_file(store, &ctx, &path).await });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let report = joined?;
        total += report.resources;
        bar.inc(1);
        let rate = total as f64 / start.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("{total} resources, {rate:.0}/s"));
        if !report.errors.is_empty() {
            failed.push(report);
        }
    }
    bar.finish();
    if total > 0 {
        store
            .analyze()
            .await
            .context("cannot refresh the planner statistics")?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "imported {total} resources in {secs:.1}s ({:.0} resources/s)",
        total as f64 / secs.max(1e-9)
    );
    if failed.is_empty() {
        return Ok(());
    }
    eprintln!(
        "{} file(s) were rejected, in whole or in part:",
        failed.len()
    );
    for r in &failed {
        eprintln!("  {}:", r.path.display());
        for e in r.errors.iter().take(20) {
            eprintln!("    - {e}");
        }
        if r.errors.len() > 20 {
            eprintln!("    … and {} more", r.errors.len() - 20);
        }
    }
    std::process::exit(1);
}

async fn run_reindex(args: ReindexArgs) -> anyhow::Result<()> {
    init_logging(false);
    let store = hutong_store::open(&args.database)
        .await
        .with_context(|| format!("cannot open database {}", redact(&args.database)))?;
    // Custom parameters first: they are what a reindex after their creation is for.
    hutong_server::search_parameters::install_stored(
        store.as_ref(),
        &AccessContext::system("hutong-reindex"),
    )
    .await
    .context("cannot load the custom search parameters")?;
    let mut spec =
        hutong_server::reindex::spec(args.resource_type.as_deref(), &args.params, args.restart)
            .map_err(|e| anyhow::anyhow!("{}", e.summary()))?;
    spec.batch_size = args.batch;
    // Ctrl-C stops after the batch in flight; the next run resumes after it.
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let interrupted = Arc::clone(&interrupted);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: stopping after the batch in flight");
                interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    let last_line = std::sync::Mutex::new(Instant::now());
    let progress = |p: &hutong_store::ReindexProgress| {
        let mut last = last_line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.elapsed().as_secs_f64() >= 1.0 || p.done >= p.total {
            eprintln!("reindex: {}", hutong_server::reindex::progress_line(p));
            *last = Instant::now();
        }
        if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            hutong_store::ReindexControl::Stop
        } else {
            hutong_store::ReindexControl::Continue
        }
    };
    let report = store
        .reindex(&spec, &progress)
        .await
        .context("reindex failed (run it again to resume after the last committed batch)")?;
    println!("{}", hutong_server::reindex::summary(&report));
    if !report.finished {
        eprintln!("run the same command again to resume");
        std::process::exit(130);
    }
    Ok(())
}

fn run_fhirpath(expression: &str, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    use std::io::Read;
    let input = match file {
        Some(path) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            buf
        }
    };
    match hutong_server::fhirpath_tool::evaluate(expression, &input) {
        Ok(out) => {
            println!("{out}");
            Ok(())
        }
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    }
}
