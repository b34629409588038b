//! The Hutong options of a PostgreSQL URL, stripped before the URL reaches the driver.

use crate::{Result, StoreError};

/// Default pool size: enough for a busy node, well under PostgreSQL's default 100.
const DEFAULT_MAX_CONNECTIONS: u32 = 16;

/// What a `postgres://` URL asks for.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Options {
    /// The URL without Hutong's own parameters.
    pub url: String,
    /// `schema=NAME`: where the tables live (created if missing).
    pub schema: Option<String>,
    /// `max_connections=N`.
    pub max_connections: u32,
}

impl Options {
    pub(super) fn parse(url: &str) -> Result<Self> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut options = Options {
            url: base.to_owned(),
            schema: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        };
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("schema", name)) => {
                    // Interpolated into SQL (identifiers cannot be bound): allow only a
                    // plain identifier.
                    let plain = !name.is_empty()
                        && name.len() <= 63
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !name.starts_with(|c: char| c.is_ascii_digit());
                    if !plain {
                        return Err(StoreError::InvalidUrl(format!(
                            "schema must be a plain identifier (letters, digits, _): {name:?}"
                        )));
                    }
                    options.schema = Some(name.to_owned());
                }
                Some(("max_connections", n)) => {
                    options.max_connections =
                        n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                            StoreError::InvalidUrl(format!(
                                "max_connections must be a positive number: {n}"
                            ))
                        })?;
                }
                _ => rest.push(pair),
            }
        }
        if !rest.is_empty() {
            options.url = format!("{base}?{}", rest.join("&"));
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hutong_options_are_stripped_and_driver_options_kept() {
        let o = Options::parse("postgres://u@h/db?schema=t_1&sslmode=disable&max_connections=4")
            .unwrap();
        assert_eq!(o.url, "postgres://u@h/db?sslmode=disable");
        assert_eq!(o.schema.as_deref(), Some("t_1"));
        assert_eq!(o.max_connections, 4);
        let o = Options::parse("postgres://u@h/db").unwrap();
        assert_eq!(
            (o.url.as_str(), o.schema, o.max_connections),
            ("postgres://u@h/db", None, 16)
        );
        assert!(Options::parse("postgres://h/db?schema=a;drop").is_err());
        assert!(Options::parse("postgres://h/db?max_connections=0").is_err());
    }
}
