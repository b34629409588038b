//! The R4 search parameters, per resource type, from the generated table, plus the
//! custom SearchParameter resources a server installs.
//!
//! `r4/search_params.txt` is written by `scripts/gen_search_params.py` from the official
//! definitions of hl7.fhir.r4.examples@4.0.1 (format in that script). It is embedded and
//! parsed once, at first use; expressions are compiled once and shared.
//!
//! Custom parameters ([`install_custom`]) are added to a copy of the R4 registry that
//! then replaces the current one for every later [`registry`] call. A replaced registry
//! is leaked, never freed: callers hold `&'static Registry` across their work, and
//! custom parameters change rarely (a few kilobytes per installed set for the life of
//! the process). The codes of custom parameters are interned, so reinstalling the same
//! set leaks only the registry itself.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};

use hutong_fhirpath::Expr;
use serde_json::Value;

const TABLE: &str = include_str!("r4/search_params.txt");

/// The type of a search parameter (R4 search.html#ptypes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    Number,
    Date,
    String,
    Token,
    Reference,
    Composite,
    Quantity,
    Uri,
    Special,
}

impl ParamType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "number" => ParamType::Number,
            "date" => ParamType::Date,
            "string" => ParamType::String,
            "token" => ParamType::Token,
            "reference" => ParamType::Reference,
            "composite" => ParamType::Composite,
            "quantity" => ParamType::Quantity,
            "uri" => ParamType::Uri,
            "special" => ParamType::Special,
            _ => return None,
        })
    }

    /// The FHIR code (`token`, `date` …).
    pub fn code(self) -> &'static str {
        match self {
            ParamType::Number => "number",
            ParamType::Date => "date",
            ParamType::String => "string",
            ParamType::Token => "token",
            ParamType::Reference => "reference",
            ParamType::Composite => "composite",
            ParamType::Quantity => "quantity",
            ParamType::Uri => "uri",
            ParamType::Special => "special",
        }
    }
}

/// One search parameter of one resource type.
#[derive(Debug, Clone)]
pub struct SearchParam {
    /// The resource type this entry belongs to.
    pub resource_type: &'static str,
    /// The parameter name in URLs (`birthdate`, `_tag`).
    pub code: &'static str,
    /// Its type.
    pub ty: ParamType,
    /// Allowed target types of a reference parameter (empty: any).
    pub targets: Vec<&'static str>,
    /// The compiled extraction expression, restricted to this resource type; `None` for
    /// parameters the definitions give no expression (`_text`, `_content`, `_query` …)
    /// and for `_id`/`_lastUpdated`, which the store answers from its own columns.
    pub expression: Option<Expr>,
    /// Components of a composite parameter: `(component param code, expression)`.
    pub components: Vec<(&'static str, Expr)>,
}

impl SearchParam {
    /// Whether values of this parameter are written to the index tables.
    pub fn is_indexed(&self) -> bool {
        self.expression.is_some()
            && !matches!(self.ty, ParamType::Special | ParamType::Composite)
            && !matches!(self.code, "_id" | "_lastUpdated")
    }
}

/// Every search parameter, by resource type.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    by_type: HashMap<&'static str, Vec<SearchParam>>,
    compartment: HashMap<&'static str, Vec<&'static str>>,
}

impl Registry {
    /// The parameter `code` of `resource_type`.
    pub fn param(&self, resource_type: &str, code: &str) -> Option<&SearchParam> {
        self.by_type
            .get(resource_type)?
            .iter()
            .find(|p| p.code == code)
    }

    /// All parameters of a resource type, by code.
    pub fn params(&self, resource_type: &str) -> &[SearchParam] {
        self.by_type.get(resource_type).map_or(&[], Vec::as_slice)
    }

    /// The parameters of `resource_type` that place a resource in a patient's
    /// compartment (R4 compartmentdefinition-patient.html); empty when the type is not
    /// in the patient compartment.
    pub fn patient_compartment_params(&self, resource_type: &str) -> &[&'static str] {
        self.compartment
            .get(resource_type)
            .map_or(&[], Vec::as_slice)
    }

    /// Resource types that can be in a patient's compartment.
    pub fn patient_compartment_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.compartment.keys().copied()
    }

    /// The resource types having an indexed parameter named by one of `codes`, sorted.
    pub fn types_with_params(&self, codes: &[&str]) -> Vec<&'static str> {
        let mut types: Vec<&'static str> = self
            .by_type
            .iter()
            .filter(|(_, ps)| ps.iter().any(|p| p.is_indexed() && codes.contains(&p.code)))
            .map(|(t, _)| *t)
            .collect();
        types.sort_unstable();
        types
    }
}

/// The registry in effect: R4, plus the custom parameters last installed.
pub fn registry() -> &'static Registry {
    let current = *CURRENT.read().unwrap_or_else(PoisonError::into_inner);
    current.unwrap_or_else(r4)
}

/// The R4 parameters alone, parsed and compiled at first use.
pub fn r4() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| parse(TABLE))
}

/// The registry [`registry`] answers; `None` for R4 alone.
static CURRENT: RwLock<Option<&'static Registry>> = RwLock::new(None);

/// Why a custom SearchParameter cannot be installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SearchParameter {name}: {reason}")]
pub struct CustomParamError {
    /// The parameter's `url`, else `id`, else `code`.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Checks a SearchParameter resource as a custom parameter: `Ok(None)` when it is not
/// `active` (nothing to install), `Ok(Some(params))` with one entry per base type,
/// or why it cannot be searched: an unknown base, an unsupported type (composite and
/// special parameters cannot be defined yet), a missing or non-compiling expression, a
/// reserved code (`_…`), or a code that shadows an R4 parameter of that base.
pub fn check_custom(resource: &Value) -> Result<Option<Vec<SearchParam>>, CustomParamError> {
    let field = |k: &str| resource.get(k).and_then(Value::as_str);
    let name = field("url")
        .or_else(|| field("id"))
        .or_else(|| field("code"))
        .unwrap_or("(unnamed)")
        .to_owned();
    let fail = |reason: String| CustomParamError {
        name: name.clone(),
        reason,
    };
    if field("status") != Some("active") {
        return Ok(None);
    }
    let code = field("code").ok_or_else(|| fail("has no code".into()))?;
    let code_ok = code.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !code_ok {
        return Err(fail(format!(
            "code '{code}' must start with a letter and use only letters, digits, '-', '_' and '.'"
        )));
    }
    let ty = field("type").and_then(ParamType::parse).ok_or_else(|| {
        fail(format!(
            "type {:?} is not a search parameter type",
            field("type")
        ))
    })?;
    if matches!(ty, ParamType::Composite | ParamType::Special) {
        return Err(fail(format!(
            "{} parameters cannot be defined on this server yet",
            ty.code()
        )));
    }
    let text = field("expression").ok_or_else(|| fail("has no expression".into()))?;
    let expression = Expr::parse(text)
        .map_err(|e| fail(format!("expression '{text}' does not compile: {e}")))?;
    let all_types = hutong_fhir::r4::metadata().resource_types();
    let mut bases: Vec<&'static str> = Vec::new();
    for b in resource
        .get("base")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        let b = b.as_str().unwrap_or("");
        if matches!(b, "Resource" | "DomainResource") {
            bases.extend(all_types.iter().copied());
        } else {
            let t = hutong_fhir::ResourceType::parse(b)
                .ok_or_else(|| fail(format!("base '{b}' is not a resource type")))?;
            bases.push(t.as_str());
        }
    }
    bases.sort_unstable();
    bases.dedup();
    if bases.is_empty() {
        return Err(fail("has no base".into()));
    }
    let mut targets = Vec::new();
    for t in resource
        .get("target")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        let t = t.as_str().unwrap_or("");
        let t = hutong_fhir::ResourceType::parse(t)
            .ok_or_else(|| fail(format!("target '{t}' is not a resource type")))?;
        targets.push(t.as_str());
    }
    let code = intern(code);
    let mut params = Vec::with_capacity(bases.len());
    for rt in bases {
        if r4().param(rt, code).is_some() {
            return Err(fail(format!(
                "code '{code}' shadows the R4 search parameter {rt}.{code}"
            )));
        }
        params.push(SearchParam {
            resource_type: rt,
            code,
            ty,
            targets: targets.clone(),
            expression: Some(expression.clone()),
            components: Vec::new(),
        });
    }
    Ok(Some(params))
}

/// Makes the active SearchParameter resources among `resources` searchable, replacing
/// the custom parameters installed before (an empty slice leaves R4 alone). Parameters
/// that cannot be installed ([`check_custom`], or a code already defined for a base by
/// an earlier resource of the slice) are left out and returned; the others are
/// installed. Index rows of resources already stored appear only after a reindex of
/// those parameters; new writes are indexed with them at once.
pub fn install_custom(resources: &[Value]) -> Vec<CustomParamError> {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(PoisonError::into_inner);
    let mut errors = Vec::new();
    let mut next = r4().clone();
    let mut added: HashSet<(&'static str, &'static str)> = HashSet::new();
    for resource in resources {
        let params = match check_custom(resource) {
            Ok(Some(params)) => params,
            Ok(None) => continue,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if let Some(p) = params
            .iter()
            .find(|p| added.contains(&(p.resource_type, p.code)))
        {
            errors.push(CustomParamError {
                name: resource
                    .get("url")
                    .or_else(|| resource.get("id"))
                    .and_then(Value::as_str)
                    .unwrap_or(p.code)
                    .to_owned(),
                reason: format!(
                    "another active SearchParameter already defines {}.{}",
                    p.resource_type, p.code
                ),
            });
            continue;
        }
        for p in params {
            added.insert((p.resource_type, p.code));
            next.by_type.entry(p.resource_type).or_default().push(p);
        }
    }
    let next: Option<&'static Registry> = (!added.is_empty()).then(|| &*Box::leak(Box::new(next)));
    *CURRENT.write().unwrap_or_else(PoisonError::into_inner) = next;
    errors
}

/// A `&'static str` equal to `s`, allocated once per distinct value.
fn intern(s: &str) -> &'static str {
    static INTERNED: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut set = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    let set = set.get_or_insert_with(HashSet::new);
    if let Some(s) = set.get(s) {
        return s;
    }
    let s: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(s);
    s
}

fn parse(table: &'static str) -> Registry {
    let mut reg = Registry::default();
    let mut last: Option<&'static str> = None;
    for line in table.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("P ") {
            let mut f = rest.splitn(5, ' ');
            let (Some(rt), Some(code), Some(ty), Some(targets), Some(expr)) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let Some(ty) = ParamType::parse(ty) else {
                continue;
            };
            // An expression that does not compile is left out rather than failing
            // every write; the registry unit test lists such parameters (none in R4).
            let expression = (expr != "-").then(|| Expr::parse(expr).ok()).flatten();
            reg.by_type.entry(rt).or_default().push(SearchParam {
                resource_type: rt,
                code,
                ty,
                targets: if targets == "-" {
                    Vec::new()
                } else {
                    targets.split(',').collect()
                },
                expression,
                components: Vec::new(),
            });
            last = Some(rt);
        } else if let Some(rest) = line.strip_prefix("K ") {
            let Some((code, expr)) = rest.split_once(' ') else {
                continue;
            };
            if let (Some(rt), Ok(expr)) = (last, Expr::parse(expr)) {
                if let Some(p) = reg.by_type.get_mut(rt).and_then(|v| v.last_mut()) {
                    p.components.push((code, expr));
                }
            }
        } else if let Some(rest) = line.strip_prefix("C ") {
            let mut f = rest.split(' ');
            if let Some(rt) = f.next() {
                reg.compartment.insert(rt, f.collect());
            }
        }
    }
    reg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_r4_expression_compiles_and_common_params_are_known() {
        let mut broken = Vec::new();
        let mut n = 0;
        for line in TABLE.lines().filter(|l| l.starts_with("P ")) {
            n += 1;
            let expr = line.splitn(6, ' ').nth(5).unwrap_or("-");
            if expr != "-" && Expr::parse(expr).is_err() {
                broken.push(line);
            }
        }
        assert!(n > 3000, "{n} parameter rows");
        assert!(broken.is_empty(), "{broken:#?}");
        let r = registry();
        assert_eq!(
            r.param("Observation", "code").map(|p| p.ty),
            Some(ParamType::Token)
        );
        assert_eq!(
            r.param("Patient", "birthdate").map(|p| p.ty),
            Some(ParamType::Date)
        );
        assert_eq!(
            r.param("Observation", "code-value-quantity")
                .map(|p| p.components.len()),
            Some(2)
        );
        assert!(r
            .param("Patient", "_tag")
            .is_some_and(SearchParam::is_indexed));
        assert!(r.param("Patient", "nonsense").is_none());
        assert_eq!(
            r.patient_compartment_params("Observation"),
            &["subject", "performer"]
        );
    }

    fn custom(code: &str, base: &str, ty: &str, expr: &str) -> Value {
        serde_json::json!({"resourceType": "SearchParameter", "url": format!("http://example.org/sp/{code}"),
            "status": "active", "code": code, "base": [base], "type": ty, "expression": expr})
    }

    #[test]
    fn custom_parameters_are_checked_installed_and_replaced() {
        // Registry state is process-wide: this is the only test of this crate that
        // installs custom parameters.
        let ok = custom("birth-place", "Patient", "string",
            "Patient.extension('http://hl7.org/fhir/StructureDefinition/patient-birthPlace').value.city");
        let shadow = custom("gender", "Patient", "token", "Patient.gender");
        let broken = custom("broken", "Patient", "string", "Patient.name.(");
        let composite = custom("pair", "Observation", "composite", "Observation");
        let mut draft = custom("draft-one", "Patient", "string", "Patient.name");
        draft["status"] = "draft".into();
        let errors = install_custom(&[ok.clone(), shadow, broken, composite, draft, ok.clone()]);
        let reasons: Vec<&str> = errors.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(errors.len(), 4, "{reasons:#?}");
        assert!(reasons[0].contains("shadows the R4 search parameter Patient.gender"));
        assert!(reasons[1].contains("does not compile"));
        assert!(reasons[2].contains("composite"));
        assert!(reasons[3].contains("already defines Patient.birth-place"));
        let p = registry()
            .param("Patient", "birth-place")
            .expect("installed");
        assert_eq!(p.ty, ParamType::String);
        assert!(p.is_indexed());
        assert!(registry().param("Patient", "draft-one").is_none());
        assert!(registry().param("Patient", "gender").is_some());
        assert_eq!(registry().types_with_params(&["birth-place"]), ["Patient"]);
        assert!(r4().param("Patient", "birth-place").is_none());
        // Installing another set replaces the first; an empty set is R4 again.
        assert!(install_custom(&[]).is_empty());
        assert!(registry().param("Patient", "birth-place").is_none());
        assert!(std::ptr::eq(registry(), r4()));
    }
}
