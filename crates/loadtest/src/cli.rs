//! `hutong loadtest` command-line arguments and entry point.

/// Arguments of `hutong loadtest`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadtestArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 1)]
    pub concurrency: u64,
}

/// Runs `hutong loadtest`.
pub async fn run(_args: LoadtestArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err("hutong loadtest is not implemented yet".into())
}
