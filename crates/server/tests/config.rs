//! Configuration precedence: flags and environment over the TOML file over defaults.
use hutong_server::config::{Config, ServeArgs, DEFAULT_BODY_LIMIT};

#[test]
fn toml_file_is_read_and_flags_win_over_it() {
    let path = std::env::temp_dir().join(format!(
        "hutong-config-{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(
        &path,
        r#"
listen = "127.0.0.1:9999"
database = "postgres://hutong@db:5432/hutong"
base-url = "https://hie.example.gov.cn/fhir/"
body-limit = 1024

[[tokens]]
token = "t1"
subject = "county-hospital"
institution = "12330100470000000X"
"#,
    )
    .unwrap();
    let from_file = Config::load(&ServeArgs {
        config: Some(path.clone()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(from_file.listen.to_string(), "127.0.0.1:9999");
    assert_eq!(from_file.database, "postgres://hutong@db:5432/hutong");
    assert_eq!(
        from_file.base_url.as_deref(),
        Some("https://hie.example.gov.cn/fhir"),
        "trailing slash dropped"
    );
    assert_eq!(from_file.body_limit, 1024);
    assert_eq!(from_file.tokens.len(), 1);
    assert_eq!(from_file.tokens[0].scopes, ["system/*.*"]);
    let flags = ServeArgs {
        config: Some(path.clone()),
        database: Some("sqlite://x.db".into()),
        body_limit: Some(2048),
        tokens: vec!["t2:lab:LAB01".into()],
        ..Default::default()
    };
    let merged = Config::load(&flags).unwrap();
    assert_eq!(merged.database, "sqlite://x.db");
    assert_eq!(merged.body_limit, 2048);
    assert_eq!(
        merged.listen.to_string(),
        "127.0.0.1:9999",
        "unset flags fall back to the file"
    );
    assert_eq!(merged.tokens.len(), 2);
    assert_eq!(merged.tokens[1].institution.as_deref(), Some("LAB01"));
    let _ = std::fs::remove_file(path);
}

#[test]
fn defaults_apply_without_a_file_and_unknown_keys_are_refused() {
    let d = Config::load(&ServeArgs::default()).unwrap();
    assert_eq!(d.listen.to_string(), "127.0.0.1:8080");
    assert!(d.database.starts_with("sqlite://"));
    assert_eq!(d.body_limit, DEFAULT_BODY_LIMIT);
    let path = std::env::temp_dir().join(format!(
        "hutong-config-{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlisen = \"typo\"\n").unwrap();
    let err = Config::load(&ServeArgs {
        config: Some(path.clone()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("lisen"), "{err}");
    let _ = std::fs::remove_file(path);
}
