/// Who is asking, on behalf of which institution, with which scopes and purpose.
///
/// Built by the server's authentication middleware for every request and passed down
/// to every store call, so that consent, authorisation and audit can be enforced and
/// recorded below the handlers without touching each of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessContext {
    /// Authenticated principal (user or system client id).
    pub subject: String,
    /// Institution the principal acts for (机构编码), when known.
    pub institution: Option<String>,
    /// Granted scopes, e.g. `system/*.*` or `user/Patient.read`.
    pub scopes: Vec<String>,
    /// Purpose of use (e.g. `TREAT`, `HOPERAT`), when declared.
    pub purpose_of_use: Option<String>,
    /// Request id for correlating logs and audit records.
    pub request_id: Option<String>,
}

impl AccessContext {
    /// A context for trusted internal work (migrations, CLI import, tests).
    pub fn system(subject: impl Into<String>) -> Self {
        AccessContext {
            subject: subject.into(),
            scopes: vec!["system/*.*".to_owned()],
            ..Default::default()
        }
    }
}
