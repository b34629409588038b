//! Rendering of FHIR answers. Stored resource bytes are spliced into Bundles and
//! responses as they are, never parsed and re-serialised (DESIGN.md: "stored bytes
//! are served as stored").
use crate::negotiation::{ReturnPreference, FHIR_JSON};
use crate::transaction::EntryResult;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use hutong_fhir::outcome::operation_outcome;
use hutong_store::Versioned;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `W/"<version>"`.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// FHIR instant of a version time.
pub fn instant(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// HTTP-date (RFC 9110 IMF-fixdate) for `Last-Modified`.
pub fn http_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[t.weekday().number_days_from_monday() as usize],
        t.day(),
        MONTHS[(u8::from(t.month()) - 1) as usize],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A JSON answer with the FHIR content type.
pub fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    resp
}

/// Adds `ETag` and `Last-Modified` of a version.
pub fn version_headers(resp: &mut Response, v: &Versioned) {
    let h = resp.headers_mut();
    if let Ok(val) = HeaderValue::from_str(&etag(v.version)) {
        h.insert(header::ETAG, val);
    }
    if let Ok(val) = HeaderValue::from_str(&http_date(v.last_updated)) {
        h.insert(header::LAST_MODIFIED, val);
    }
}

/// The answer of a read/vread: the stored bytes as they are.
pub fn read_response(v: &Versioned) -> Response {
    let mut resp = json_response(StatusCode::OK, v.json.clone());
    version_headers(&mut resp, v);
    resp
}

/// The answer of a write interaction (create/update/patch/delete), honouring `Prefer`.
pub fn write_response(base: &str, result: &EntryResult, pref: ReturnPreference) -> Response {
    let Some(v) = &result.version else {
        return json_response(result.status, Body::empty());
    };
    let body: Body = if v.deleted || result.status == StatusCode::NO_CONTENT {
        Body::empty()
    } else {
        match pref {
            ReturnPreference::Minimal => Body::empty(),
            ReturnPreference::Representation => Body::from(v.json.clone()),
            ReturnPreference::OperationOutcome => {
                let mut issues = result.outcome.clone();
                if issues.is_empty() {
                    issues.push(hutong_fhir::Issue::info(format!(
                        "{}/{} version {} {}",
                        v.resource_type,
                        v.id,
                        v.version,
                        if result.status == StatusCode::CREATED {
                            "created"
                        } else {
                            "updated"
                        }
                    )));
                }
                Body::from(serde_json::to_vec(&operation_outcome(&issues)).unwrap_or_default())
            }
        }
    };
    let mut resp = json_response(result.status, body);
    version_headers(&mut resp, v);
    if !v.deleted && matches!(result.status, StatusCode::CREATED | StatusCode::OK) {
        let loc = format!("{base}/{}/{}/_history/{}", v.resource_type, v.id, v.version);
        if let Ok(val) = HeaderValue::from_str(&loc) {
            resp.headers_mut().insert(header::LOCATION, val);
            if result.status == StatusCode::CREATED {
                if let Ok(val) = HeaderValue::from_str(&loc) {
                    resp.headers_mut().insert(header::CONTENT_LOCATION, val);
                }
            }
        }
    }
    resp
}

/// Incremental writer of a Bundle's JSON text with raw resource bytes spliced in.
pub struct BundleWriter {
    buf: Vec<u8>,
    entries: usize,
}

impl BundleWriter {
    /// Starts a Bundle of `bundle_type` with an optional `total` and `link`s (relation, url).
    pub fn new(bundle_type: &str, total: Option<u64>, links: &[(&str, String)]) -> Self {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(b"{\"resourceType\":\"Bundle\",\"id\":");
        push_str(&mut buf, &uuid::Uuid::new_v4().to_string());
        buf.extend_from_slice(b",\"meta\":{\"lastUpdated\":");
        push_str(&mut buf, &instant(OffsetDateTime::now_utc()));
        buf.extend_from_slice(b"},\"type\":");
        push_str(&mut buf, bundle_type);
        if let Some(t) = total {
            buf.extend_from_slice(format!(",\"total\":{t}").as_bytes());
        }
        if !links.is_empty() {
            buf.extend_from_slice(b",\"link\":[");
            for (i, (rel, url)) in links.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(b"{\"relation\":");
                push_str(&mut buf, rel);
                buf.extend_from_slice(b",\"url\":");
                push_str(&mut buf, url);
                buf.push(b'}');
            }
            buf.push(b']');
        }
        buf.extend_from_slice(b",\"entry\":[");
        BundleWriter { buf, entries: 0 }
    }

    /// Appends one entry. `resource` is raw JSON bytes; `fields` are extra members
    /// (`request`, `response`, `search`) as JSON values.
    pub fn entry(
        &mut self,
        full_url: Option<&str>,
        resource: Option<&[u8]>,
        fields: &[(&str, Value)],
    ) {
        if self.entries > 0 {
            self.buf.push(b',');
        }
        self.entries += 1;
        self.buf.push(b'{');
        let mut first = true;
        let mut sep = |buf: &mut Vec<u8>| {
            if !first {
                buf.push(b',');
            }
            first = false;
        };
        if let Some(u) = full_url {
            sep(&mut self.buf);
            self.buf.extend_from_slice(b"\"fullUrl\":");
            push_str(&mut self.buf, u);
        }
        if let Some(r) = resource.filter(|r| !r.is_empty()) {
            sep(&mut self.buf);
            self.buf.extend_from_slice(b"\"resource\":");
            self.buf.extend_from_slice(r);
        }
        for (name, value) in fields {
            sep(&mut self.buf);
            push_str(&mut self.buf, name);
            self.buf.push(b':');
            self.buf
                .extend_from_slice(&serde_json::to_vec(value).unwrap_or_default());
        }
        self.buf.push(b'}');
    }

    /// Closes the Bundle and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(b"]}");
        self.buf
    }
}

fn push_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&serde_json::to_vec(s).unwrap_or_default());
}

/// `"201 Created"` style status text of a Bundle entry response.
pub fn status_text(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
}

/// The Bundle answering a transaction or batch.
pub fn transaction_response(
    base: &str,
    bundle_type: &str,
    results: &[EntryResult],
    pref: ReturnPreference,
) -> Vec<u8> {
    let mut w = BundleWriter::new(bundle_type, None, &[]);
    for r in results {
        let mut response = serde_json::json!({ "status": status_text(r.status) });
        let mut resource: Option<&[u8]> = None;
        if let Some(v) = &r.version {
            if !v.deleted {
                response["location"] = Value::String(format!(
                    "{}/{}/_history/{}",
                    v.resource_type, v.id, v.version
                ));
                if r.is_read || pref == ReturnPreference::Representation {
                    resource = Some(&v.json);
                }
            }
            response["etag"] = Value::String(etag(v.version));
            response["lastModified"] = Value::String(instant(v.last_updated));
        }
        if !r.outcome.is_empty() || pref == ReturnPreference::OperationOutcome {
            response["outcome"] = operation_outcome(&r.outcome);
        }
        let full = r
            .version
            .as_ref()
            .filter(|v| !v.deleted)
            .map(|v| format!("{base}/{}/{}", v.resource_type, v.id));
        w.entry(full.as_deref(), resource, &[("response", response)]);
    }
    w.finish()
}
