//! A FHIR interaction request, as it comes from an HTTP request or a Bundle entry.
use crate::error::ApiError;
use axum::http::StatusCode;
use hutong_fhir::{IssueType, ResourceType};
use serde_json::Value;

/// HTTP verb of an interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// Parses `request.method` of a Bundle entry.
    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "GET" | "HEAD" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }
    /// R4 http.html#transaction: DELETE, then POST, then PUT/PATCH, then GET.
    pub fn processing_rank(self) -> u8 {
        match self {
            Method::Delete => 0,
            Method::Post => 1,
            Method::Put | Method::Patch => 2,
            Method::Get => 3,
        }
    }
}

/// The target of a request URL relative to the FHIR base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub resource_type: ResourceType,
    pub id: Option<String>,
    pub version: Option<u64>,
    /// Query string of a conditional / search URL (`Patient?identifier=…`).
    pub query: Option<String>,
}

impl Target {
    /// Parses `Type`, `Type/id`, `Type/id/_history/vid`, `Type?query`, optionally
    /// prefixed by the server base URL or `/`. Unknown types are `not_found_status`.
    pub fn parse(
        url: &str,
        base: Option<&str>,
        unknown_type_status: StatusCode,
    ) -> Result<Target, ApiError> {
        let mut rest = url.trim();
        if let Some(b) = base {
            if let Some(r) = rest.strip_prefix(b) {
                rest = r;
            }
        }
        let rest = rest.trim_start_matches('/');
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (rest, None),
        };
        let mut parts = path.split('/');
        let type_name = parts.next().unwrap_or("");
        let resource_type = ResourceType::parse(type_name).ok_or_else(|| {
            ApiError::new(
                unknown_type_status,
                IssueType::NotSupported,
                format!("unknown resource type '{type_name}' in '{url}'"),
            )
        })?;
        let id = match parts.next() {
            None | Some("") => None,
            Some(id) => {
                if !hutong_fhir::primitive::is_id(id) {
                    return Err(ApiError::bad_request(format!(
                        "invalid resource id '{id}' in '{url}'"
                    )));
                }
                Some(id.to_owned())
            }
        };
        let version = match (parts.next(), parts.next()) {
            (None, _) => None,
            (Some("_history"), Some(v)) => Some(
                v.parse::<u64>()
                    .map_err(|_| ApiError::not_found(format!("version '{v}' does not exist")))?,
            ),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unsupported request url '{url}'"
                )))
            }
        };
        if parts.next().is_some() {
            return Err(ApiError::bad_request(format!(
                "unsupported request url '{url}'"
            )));
        }
        Ok(Target {
            resource_type,
            id,
            version,
            query,
        })
    }
}

/// One interaction to process: a single REST call, or one entry of a Bundle.
#[derive(Debug, Clone)]
pub struct EntryRequest {
    pub method: Method,
    pub target: Target,
    /// `Bundle.entry.fullUrl`, used to rewrite references (urn:uuid:…).
    pub full_url: Option<String>,
    /// The validated resource of POST/PUT.
    pub resource: Option<Value>,
    /// The JSON Patch of PATCH.
    pub patch: Option<json_patch::Patch>,
    /// `If-Match` version.
    pub if_match: Option<u64>,
    /// `If-None-Exist` criteria of a conditional create.
    pub if_none_exist: Option<String>,
    /// `If-None-Match: *` on PUT: only create.
    pub if_none_match_any: bool,
}

impl EntryRequest {
    /// A request without conditions.
    pub fn new(method: Method, target: Target) -> Self {
        EntryRequest {
            method,
            target,
            full_url: None,
            resource: None,
            patch: None,
            if_match: None,
            if_none_exist: None,
            if_none_match_any: false,
        }
    }
}

/// Parses an ETag-style version (`W/"3"`, `"3"`, `3`) of `If-Match`.
pub fn parse_etag_version(s: &str) -> Result<u64, ApiError> {
    let t = s.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    let t = t.trim_matches('"');
    t.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("invalid ETag '{s}': expected W/\"<version>\"")))
}

/// Parses a request body as a JSON resource and validates it.
///
/// `expected_type`: the type named by the URL, which the body must match.
pub fn parse_resource(body: &[u8], expected_type: Option<ResourceType>) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            IssueType::Required,
            "the request body is empty",
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            IssueType::Structure,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    check_resource(&value, expected_type)?;
    Ok(value)
}

/// Validates a parsed resource; checks it is of `expected_type` when given.
pub fn check_resource(value: &Value, expected_type: Option<ResourceType>) -> Result<(), ApiError> {
    let Some(obj) = value.as_object() else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            IssueType::Structure,
            "a resource must be a JSON object",
        ));
    };
    let rt = obj.get("resourceType").and_then(Value::as_str);
    if let (Some(expected), Some(rt)) = (expected_type, rt) {
        if expected.as_str() != rt {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                IssueType::Invalid,
                format!("resourceType '{rt}' does not match the URL's type '{expected}'"),
            )
            .at(format!("{rt}.resourceType")));
        }
    }
    hutong_fhir::validate::validate_resource(value).map_err(ApiError::invalid)
}
