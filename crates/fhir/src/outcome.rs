//! OperationOutcome issues: what went wrong and where (R4 operationoutcome.html).
use serde_json::{json, Value};

/// Severity of an OperationOutcome issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueSeverity {
    /// The issue stopped processing.
    Fatal,
    /// The input is wrong; the request is refused.
    Error,
    /// A possible problem; processing went on.
    Warning,
    /// For information only.
    Information,
}

impl IssueSeverity {
    /// FHIR code.
    pub fn code(self) -> &'static str {
        match self {
            IssueSeverity::Fatal => "fatal",
            IssueSeverity::Error => "error",
            IssueSeverity::Warning => "warning",
            IssueSeverity::Information => "information",
        }
    }
}

/// OperationOutcome issue type (subset of the IssueType value set Hutong uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueType {
    /// Content invalid against the specification or a profile.
    Invalid,
    /// A structural issue: unknown element, wrong JSON kind, cardinality form.
    Structure,
    /// A required element is missing.
    Required,
    /// An element value is invalid (primitive format).
    Value,
    /// A content validation rule (invariant) failed.
    Invariant,
    /// The content or operation is not supported (e.g. unknown resource type).
    NotSupported,
    /// The resource or element was not found.
    NotFound,
    /// The resource has been deleted.
    Deleted,
    /// Edit conflict (version mismatch, `If-Match`).
    Conflict,
    /// An attempt to create a duplicate.
    Duplicate,
    /// The content is too long.
    TooLong,
    /// Processing failed (business rule).
    Processing,
    /// An unexpected internal error.
    Exception,
    /// A security problem.
    Security,
    /// The user is not allowed to do this.
    Forbidden,
    /// The user needs to log in.
    Login,
    /// Informational note, not a problem.
    Informational,
    /// An internal timeout.
    Timeout,
    /// A transient problem; retrying may succeed.
    Transient,
}

impl IssueType {
    /// FHIR code.
    pub fn code(self) -> &'static str {
        match self {
            IssueType::Invalid => "invalid",
            IssueType::Structure => "structure",
            IssueType::Required => "required",
            IssueType::Value => "value",
            IssueType::Invariant => "invariant",
            IssueType::NotSupported => "not-supported",
            IssueType::NotFound => "not-found",
            IssueType::Deleted => "deleted",
            IssueType::Conflict => "conflict",
            IssueType::Duplicate => "duplicate",
            IssueType::TooLong => "too-long",
            IssueType::Processing => "processing",
            IssueType::Exception => "exception",
            IssueType::Security => "security",
            IssueType::Forbidden => "forbidden",
            IssueType::Login => "login",
            IssueType::Informational => "informational",
            IssueType::Timeout => "timeout",
            IssueType::Transient => "transient",
        }
    }
}

/// One OperationOutcome issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// How bad it is.
    pub severity: IssueSeverity,
    /// What kind of problem it is.
    pub code: IssueType,
    /// Human-readable explanation.
    pub diagnostics: String,
    /// FHIRPath of the offending element, e.g. `Patient.birthDate` or
    /// `Patient.name[0].given[1]`.
    pub expression: Option<String>,
}

impl Issue {
    /// An error issue.
    pub fn error(code: IssueType, diagnostics: impl Into<String>) -> Self {
        Issue {
            severity: IssueSeverity::Error,
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }
    /// An informational issue.
    pub fn info(diagnostics: impl Into<String>) -> Self {
        Issue {
            severity: IssueSeverity::Information,
            code: IssueType::Informational,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }
    /// Sets the FHIRPath expression of the offending element.
    pub fn at(mut self, expression: impl Into<String>) -> Self {
        self.expression = Some(expression.into());
        self
    }
    /// This issue as OperationOutcome.issue JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "severity": self.severity.code(),
            "code": self.code.code(),
            "diagnostics": self.diagnostics,
        });
        if let Some(e) = &self.expression {
            v["expression"] = json!([e]);
        }
        v
    }
}

/// An OperationOutcome resource holding `issues`.
pub fn operation_outcome(issues: &[Issue]) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": issues.iter().map(Issue::to_json).collect::<Vec<_>>(),
    })
}
