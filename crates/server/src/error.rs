//! The one place where errors become HTTP statuses and OperationOutcomes.
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hutong_fhir::outcome::operation_outcome;
use hutong_fhir::{Issue, IssueType};
use hutong_store::StoreError;

/// An error answer of the FHIR API: a status and the issues of its OperationOutcome.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub issues: Vec<Issue>,
}

impl ApiError {
    /// An error with one issue.
    pub fn new(status: StatusCode, code: IssueType, diagnostics: impl Into<String>) -> Self {
        ApiError {
            status,
            issues: vec![Issue::error(code, diagnostics)],
        }
    }
    /// 400 with the given issues (validation failures).
    pub fn invalid(issues: Vec<Issue>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            issues,
        }
    }
    /// 400, one `invalid` issue.
    pub fn bad_request(diagnostics: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, IssueType::Invalid, diagnostics)
    }
    /// 404 for an unknown resource type or id.
    pub fn not_found(diagnostics: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, IssueType::NotFound, diagnostics)
    }
    /// 410 for a deleted resource.
    pub fn gone(diagnostics: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, IssueType::Deleted, diagnostics)
    }
    /// 412 for a failed precondition.
    pub fn precondition_failed(diagnostics: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            IssueType::Conflict,
            diagnostics,
        )
    }
    /// 503 for a part of the server that cannot serve now (`transient`).
    pub fn unavailable(diagnostics: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            IssueType::Transient,
            diagnostics,
        )
    }
    /// 500 for a failure inside the server.
    pub fn internal(diagnostics: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            IssueType::Exception,
            diagnostics,
        )
    }
    /// Sets the expression of the first issue (the offending element).
    pub fn at(mut self, expression: impl Into<String>) -> Self {
        if let Some(first) = self.issues.first_mut() {
            first.expression = Some(expression.into());
        }
        self
    }
    /// The OperationOutcome JSON of this error.
    pub fn outcome(&self) -> serde_json::Value {
        operation_outcome(&self.issues)
    }
    /// The first diagnostics line, for logs.
    pub fn summary(&self) -> &str {
        self.issues
            .first()
            .map(|i| i.diagnostics.as_str())
            .unwrap_or("")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::VersionConflict {
                resource_type,
                id,
                expected,
                current,
                ..
            } => ApiError::precondition_failed(format!(
                "{resource_type}/{id}: If-Match expected version {expected}, current version is {}",
                current.map_or_else(|| "none".to_owned(), |c| c.to_string())
            )),
            StoreError::AlreadyExists {
                resource_type, id, ..
            } => ApiError::new(
                StatusCode::CONFLICT,
                IssueType::Duplicate,
                format!("{resource_type}/{id} already exists"),
            ),
            StoreError::Database(msg) if is_transient(msg) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                IssueType::Transient,
                e.to_string(),
            ),
            _ => {
                tracing::error!(error = %e, "store failure");
                ApiError::internal(e.to_string())
            }
        }
    }
}

fn is_transient(msg: &str) -> bool {
    msg.contains("database is locked")
        || msg.contains("pool timed out")
        || msg.contains("could not serialize")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.outcome()).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::negotiation::FHIR_JSON),
        );
        resp
    }
}
