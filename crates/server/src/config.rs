//! Server configuration: command-line flags, environment variables (`HUTONG_*`) and an
//! optional TOML file, in that order of precedence.
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Default request body limit: 32 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// Flags of `hutong serve` (each also readable from the environment).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "HUTONG_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Database URL: `sqlite://PATH` (embedded, default `sqlite://./hutong-data/hutong.db`)
    /// or `postgres://user@host:port/db`.
    #[arg(long, env = "HUTONG_DATABASE_URL")]
    pub database: Option<String>,
    /// TOML configuration file (keys as the long flags, plus `[[tokens]]` tables).
    #[arg(long, env = "HUTONG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Public FHIR base URL used in Location headers and Bundle links
    /// [default: http://<Host header>/fhir].
    #[arg(long, env = "HUTONG_BASE_URL")]
    pub base_url: Option<String>,
    /// Maximum request body in bytes; larger bodies get 413 [default: 33554432].
    #[arg(long, env = "HUTONG_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Development mode: accept requests without a bearer token (logs a warning).
    #[arg(long, env = "HUTONG_INSECURE_DEV")]
    pub insecure_dev: bool,
    /// A static bearer token `TOKEN[:SUBJECT[:INSTITUTION]]` granting system/*.* (repeatable).
    #[arg(long = "token", env = "HUTONG_TOKENS", value_delimiter = ',')]
    pub tokens: Vec<String>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "HUTONG_LOG_JSON")]
    pub log_json: bool,
    /// Load a small generated demo region (residents, institutions, clinical history)
    /// when the database is empty.
    #[arg(long, env = "HUTONG_DEMO")]
    pub demo: bool,
    /// Number of residents of the demo region [default: 300].
    #[arg(long, env = "HUTONG_DEMO_RESIDENTS")]
    pub demo_residents: Option<usize>,
    #[command(flatten)]
    pub mpi: MpiArgs,
}

/// Master patient index options (also `[mpi]` in the TOML file).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MpiArgs {
    /// Turn write-time patient linking (and the MPI operations) off.
    #[arg(long, env = "HUTONG_MPI_DISABLED")]
    pub mpi_disabled: bool,
    /// Match probability at or above which a Patient is linked automatically
    /// [default: 0.995].
    #[arg(long, env = "HUTONG_MPI_LINK_THRESHOLD")]
    pub mpi_link_threshold: Option<f64>,
    /// Match probability at or above which a pair is queued for review [default: 0.5].
    #[arg(long, env = "HUTONG_MPI_REVIEW_THRESHOLD")]
    pub mpi_review_threshold: Option<f64>,
    /// Trained matching parameters written by `hutong mpi train` [default: the built-in
    /// model, trained on 100,000 generated Chinese registrations].
    #[arg(long, env = "HUTONG_MPI_MODEL")]
    pub mpi_model: Option<PathBuf>,
    /// Key of the keyed hash (HMAC-SHA256) under which citizen ID numbers are stored in
    /// the MPI tables [default: a development key, with a warning].
    #[arg(long, env = "HUTONG_MPI_HASH_KEY", hide_env_values = true)]
    pub mpi_hash_key: Option<String>,
    /// What to do with a Patient whose citizen ID number (身份证号) is invalid: `keep`
    /// it with a data-quality tag and a warning, or `reject` it [default: keep].
    #[arg(long, env = "HUTONG_MPI_INVALID_CITIZEN_ID")]
    pub mpi_invalid_citizen_id: Option<InvalidCitizenId>,
}

/// Policy for a Patient whose citizen ID number is invalid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum InvalidCitizenId {
    /// Store it, tag it `invalid-citizen-id` and warn the caller; never use the number
    /// as a key.
    #[default]
    Keep,
    /// Refuse the write (422).
    Reject,
}

/// The effective master patient index configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct MpiConfig {
    /// Write-time linking and the MPI operations are on.
    pub enabled: bool,
    /// Auto-link threshold (probability).
    pub link_threshold: f64,
    /// Review threshold (probability).
    pub review_threshold: f64,
    /// Trained model file (`None`: the built-in one).
    pub model: Option<PathBuf>,
    /// HMAC key for stored citizen ID hashes (`None`: the development key).
    pub hash_key: Option<String>,
    /// Invalid citizen ID numbers: keep with a flag, or reject.
    pub invalid_citizen_id: InvalidCitizenId,
}

impl Default for MpiConfig {
    fn default() -> Self {
        MpiConfig {
            enabled: true,
            link_threshold: 0.995,
            review_threshold: 0.5,
            model: None,
            hash_key: None,
            invalid_citizen_id: InvalidCitizenId::Keep,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct MpiFileConfig {
    enabled: Option<bool>,
    link_threshold: Option<f64>,
    review_threshold: Option<f64>,
    model: Option<PathBuf>,
    hash_key: Option<String>,
    invalid_citizen_id: Option<InvalidCitizenId>,
}

impl MpiConfig {
    /// Merges flags/environment over the `[mpi]` table over defaults, and checks the
    /// thresholds (0 < review <= link <= 1).
    fn load(args: &MpiArgs, file: Option<MpiFileConfig>) -> anyhow::Result<MpiConfig> {
        let file = file.unwrap_or_default();
        let d = MpiConfig::default();
        let c = MpiConfig {
            enabled: !args.mpi_disabled && file.enabled.unwrap_or(true),
            link_threshold: args
                .mpi_link_threshold
                .or(file.link_threshold)
                .unwrap_or(d.link_threshold),
            review_threshold: args
                .mpi_review_threshold
                .or(file.review_threshold)
                .unwrap_or(d.review_threshold),
            model: args.mpi_model.clone().or(file.model),
            hash_key: args.mpi_hash_key.clone().or(file.hash_key),
            invalid_citizen_id: args
                .mpi_invalid_citizen_id
                .or(file.invalid_citizen_id)
                .unwrap_or_default(),
        };
        if !(c.review_threshold > 0.0
            && c.review_threshold <= c.link_threshold
            && c.link_threshold <= 1.0)
        {
            anyhow::bail!(
                "MPI thresholds must satisfy 0 < review ({}) <= link ({}) <= 1",
                c.review_threshold,
                c.link_threshold
            );
        }
        Ok(c)
    }

    /// The configuration of `hutong import` and other tools: flags/environment only.
    pub fn from_args(args: &MpiArgs) -> anyhow::Result<MpiConfig> {
        MpiConfig::load(args, None)
    }
}

/// One static bearer token (until the identity system lands).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TokenConfig {
    pub token: String,
    #[serde(default = "default_subject")]
    pub subject: String,
    #[serde(default)]
    pub institution: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

fn default_subject() -> String {
    "client".to_owned()
}

fn default_scopes() -> Vec<String> {
    vec!["system/*.*".to_owned()]
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    listen: Option<SocketAddr>,
    database: Option<String>,
    base_url: Option<String>,
    body_limit: Option<usize>,
    insecure_dev: Option<bool>,
    log_json: Option<bool>,
    demo: Option<bool>,
    demo_residents: Option<usize>,
    #[serde(default)]
    tokens: Vec<TokenConfig>,
    mpi: Option<MpiFileConfig>,
}

/// The effective configuration of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: String,
    pub base_url: Option<String>,
    pub body_limit: usize,
    pub insecure_dev: bool,
    pub tokens: Vec<TokenConfig>,
    pub log_json: bool,
    /// Residents of the demo region to load on an empty database (`None`: no demo).
    pub demo_residents: Option<usize>,
    /// Master patient index.
    pub mpi: MpiConfig,
}

/// Default size of the demo region.
pub const DEFAULT_DEMO_RESIDENTS: usize = 300;

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: default_database(),
            base_url: None,
            body_limit: DEFAULT_BODY_LIMIT,
            insecure_dev: false,
            tokens: Vec::new(),
            log_json: false,
            demo_residents: None,
            mpi: MpiConfig::default(),
        }
    }
}

/// The embedded default database.
pub fn default_database() -> String {
    "sqlite://./hutong-data/hutong.db".to_owned()
}

impl Config {
    /// Merges flags/environment over the TOML file over defaults.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read config file {}: {e}", path.display())
                })?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let d = Config::default();
        let mpi = MpiConfig::load(&args.mpi, file.mpi)?;
        let mut tokens = file.tokens;
        for spec in &args.tokens {
            let mut parts = spec.splitn(3, ':');
            let token = parts.next().unwrap_or_default().to_owned();
            if token.is_empty() {
                anyhow::bail!("empty token in --token");
            }
            tokens.push(TokenConfig {
                token,
                subject: parts.next().map_or_else(default_subject, str::to_owned),
                institution: parts.next().map(str::to_owned),
                scopes: default_scopes(),
            });
        }
        Ok(Config {
            listen: args.listen.or(file.listen).unwrap_or(d.listen),
            database: args
                .database
                .clone()
                .or(file.database)
                .unwrap_or(d.database),
            base_url: args
                .base_url
                .clone()
                .or(file.base_url)
                .map(|b| b.trim_end_matches('/').to_owned()),
            body_limit: args.body_limit.or(file.body_limit).unwrap_or(d.body_limit),
            insecure_dev: args.insecure_dev || file.insecure_dev.unwrap_or(false),
            tokens,
            log_json: args.log_json || file.log_json.unwrap_or(false),
            demo_residents: (args.demo || file.demo.unwrap_or(false)).then(|| {
                args.demo_residents
                    .or(file.demo_residents)
                    .unwrap_or(DEFAULT_DEMO_RESIDENTS)
            }),
            mpi,
        })
    }
}
