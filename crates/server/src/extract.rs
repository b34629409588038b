//! Request extractors shared by the interaction handlers.
use crate::app::AppState;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use hutong_fhir::IssueType;

/// The request body, read up to the configured limit (413 OperationOutcome beyond).
pub struct FhirBody(pub Bytes);

impl FromRequest<AppState> for FhirBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.body_limit;
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                IssueType::TooLong,
                format!("the request body exceeds the limit of {limit} bytes"),
            )
        };
        if let Some(len) = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        {
            if len > limit {
                return Err(too_large());
            }
        }
        match axum::body::to_bytes(req.into_body(), limit).await {
            Ok(b) => Ok(FhirBody(b)),
            Err(e) => {
                let text = format!("{e:?}");
                if text.contains("LengthLimit") || text.contains("length limit") {
                    Err(too_large())
                } else {
                    Err(ApiError::bad_request(format!(
                        "cannot read the request body: {e}"
                    )))
                }
            }
        }
    }
}

/// The FHIR base URL of this request (configured, or from the `Host` header).
pub struct Base(pub String);

impl FromRequestParts<AppState> for Base {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(b) = &state.config.base_url {
            return Ok(Base(b.clone()));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| state.config.listen.to_string(), str::to_owned);
        Ok(Base(format!("http://{host}/fhir")))
    }
}

/// Query parameters in order, percent-decoded.
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// First value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl FromRequestParts<AppState> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        Ok(Params(parse_query(q)))
    }
}

/// Splits and decodes a query string.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                crate::transaction::percent_decode(k),
                crate::transaction::percent_decode(v),
            )
        })
        .collect()
}
