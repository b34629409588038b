//! The R4 search parameters, per resource type, from the generated table.
//!
//! `r4/search_params.txt` is written by `scripts/gen_search_params.py` from the official
//! definitions of hl7.fhir.r4.examples@4.0.1 (format in that script). It is embedded and
//! parsed once, at first use; expressions are compiled once and shared.

use std::collections::HashMap;
use std::sync::OnceLock;

use hutong_fhirpath::Expr;

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
#[derive(Debug)]
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
#[derive(Debug, Default)]
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
}

/// The R4 registry, parsed and compiled at first use.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| parse(TABLE))
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
}
