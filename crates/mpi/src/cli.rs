//! `hutong mpi …` command-line arguments and entry point.

/// Arguments of `hutong mpi`.
#[derive(Debug, Clone, clap::Args)]
pub struct MpiArgs {
    #[command(subcommand)]
    pub command: MpiCommand,
}

/// Sub-commands of `hutong mpi`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum MpiCommand {
    /// Deduplicate one file or link several.
    Link {
        /// Input files.
        #[arg(long, required = true)]
        input: Vec<std::path::PathBuf>,
    },
}

/// Runs `hutong mpi …`.
pub async fn run(_args: MpiArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err("hutong mpi is not implemented yet".into())
}
