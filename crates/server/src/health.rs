//! Operations endpoints: `/healthz` (checks the database) and `/metrics`.
use crate::app::AppState;
use crate::error::ApiError;
use crate::render::json_response;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hutong_fhir::IssueType;

/// GET `/healthz`: 200 when the database answers, 503 otherwise.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => json_response(
            StatusCode::OK,
            format!(
                "{{\"status\":\"ok\",\"store\":\"{}\"}}",
                state.store.backend()
            ),
        ),
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            IssueType::Transient,
            format!("database unavailable: {e}"),
        )
        .into_response(),
    }
}

/// GET `/metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state
        .metrics
        .render(state.store.backend(), state.store.pool_status());
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
