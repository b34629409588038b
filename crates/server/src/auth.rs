//! Access context: who is asking, for which institution, with which scopes.
//!
//! Every request under `/fhir` (but the CapabilityStatement) passes through
//! [`authenticate`], which builds the [`AccessContext`] handed to every store call.
//! Until the identity and consent system lands, bearer tokens come from static
//! configuration, or `--insecure-dev` lets every request in as a development user.
use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hutong_fhir::IssueType;
use hutong_store::AccessContext;

/// Middleware: resolves the bearer token into an [`AccessContext`] request extension.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let ctx = match token {
        Some(t) => match state.tokens.get(&crate::app::token_key(t)) {
            Some(cfg) => AccessContext {
                subject: cfg.subject.clone(),
                institution: cfg.institution.clone(),
                scopes: cfg.scopes.clone(),
                purpose_of_use: None,
                request_id,
            },
            None => return unauthorized("the bearer token is not valid"),
        },
        None if state.config.insecure_dev => AccessContext {
            request_id,
            ..AccessContext::system("insecure-dev")
        },
        None => return unauthorized("authentication required: send Authorization: Bearer <token>"),
    };
    req.extensions_mut().insert(ctx);
    next.run(req).await
}

fn unauthorized(msg: &str) -> Response {
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, IssueType::Login, msg).into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"hutong\""),
    );
    resp
}
