//! Content negotiation: `_format`, `Accept` and `Content-Type` (R4 http.html#mime-type).
use crate::error::ApiError;
use axum::http::{header, HeaderMap, StatusCode};
use hutong_fhir::IssueType;

/// The content type of every FHIR answer.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// Checks that the client can read JSON: `_format` wins over `Accept`.
/// XML and other formats answer 406.
pub fn check_accept(headers: &HeaderMap, format_param: Option<&str>) -> Result<(), ApiError> {
    if let Some(f) = format_param {
        let f = f.trim();
        let ok = matches!(
            f,
            "json" | "application/json" | "application/fhir+json" | "text/json"
        ) || f.starts_with("application/fhir+json;")
            || f.starts_with("application/json;");
        return if ok { Ok(()) } else { Err(not_acceptable(f)) };
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let acceptable = accept.split(',').any(|part| {
        let mime = part.split(';').next().unwrap_or("").trim();
        let q_zero = part
            .split(';')
            .skip(1)
            .any(|p| p.trim().replace(' ', "") == "q=0");
        !q_zero
            && matches!(
                mime,
                "" | "*/*"
                    | "application/*"
                    | "application/json"
                    | "application/fhir+json"
                    | "text/json"
            )
    });
    if acceptable {
        Ok(())
    } else {
        Err(not_acceptable(accept))
    }
}

fn not_acceptable(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        IssueType::NotSupported,
        format!("format '{what}' is not supported; this server speaks application/fhir+json"),
    )
}

/// Checks the request body's content type for create/update/transaction.
pub fn check_json_body(headers: &HeaderMap) -> Result<(), ApiError> {
    match content_type(headers) {
        None => Ok(()),
        Some(ct)
            if matches!(
                ct.as_str(),
                "application/fhir+json" | "application/json" | "text/json"
            ) =>
        {
            Ok(())
        }
        Some(ct) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IssueType::NotSupported,
            format!("content type '{ct}' is not supported; send application/fhir+json"),
        )),
    }
}

/// The media type of the request body without parameters, lower case.
pub fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// What the client asked to get back (`Prefer: return=…`, R4 http.html#ops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnPreference {
    Minimal,
    Representation,
    OperationOutcome,
}

impl ReturnPreference {
    /// Reads the `Prefer` header; `default` when absent.
    pub fn from_headers(headers: &HeaderMap, default: ReturnPreference) -> Self {
        for value in headers.get_all("prefer") {
            let Ok(v) = value.to_str() else { continue };
            for part in v.split([',', ';']) {
                match part.trim().replace(' ', "").as_str() {
                    "return=minimal" => return ReturnPreference::Minimal,
                    "return=representation" => return ReturnPreference::Representation,
                    "return=OperationOutcome" => return ReturnPreference::OperationOutcome,
                    _ => {}
                }
            }
        }
        default
    }
}
