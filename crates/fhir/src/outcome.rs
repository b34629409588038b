use serde_json::{json, Value};

/// Severity of an OperationOutcome issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueSeverity {
    Fatal,
    Error,
    Warning,
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
    Invalid,
    Structure,
    Required,
    Value,
    Invariant,
    NotSupported,
    NotFound,
    Deleted,
    Conflict,
    Duplicate,
    TooLong,
    Processing,
    Exception,
    Security,
    Forbidden,
    Login,
    Informational,
    Timeout,
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
    pub severity: IssueSeverity,
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
