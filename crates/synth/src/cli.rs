//! `hutong synth` command-line arguments and entry point.

/// Arguments of `hutong synth`.
#[derive(Debug, Clone, clap::Args)]
pub struct SynthArgs {
    /// Number of residents.
    #[arg(long, default_value_t = 1000)]
    pub residents: u64,
}

/// Runs `hutong synth`.
pub async fn run(_args: SynthArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err("hutong synth is not implemented yet".into())
}
