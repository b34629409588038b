//! Subsetted views of resources in search results (R4 search.html#summary,
//! search.html#elements): `_summary=true|text|data` and `_elements`. The full stored
//! bytes are spliced into Bundles unchanged unless the client asks for a view; a view
//! re-serialises the resource with only the chosen top-level elements and marks it
//! with the `SUBSETTED` tag, so nobody mistakes it for the whole resource.

use std::borrow::Cow;

use hutong_search::query::Summary;
use hutong_search::SearchQuery;
use serde_json::{Map, Value};

const SUBSETTED_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";

/// Which top-level elements a search shows.
pub struct View<'q> {
    summary: Summary,
    elements: &'q [String],
}

impl<'q> View<'q> {
    pub fn of(q: &'q SearchQuery) -> Self {
        View {
            summary: q.summary,
            elements: &q.elements,
        }
    }

    fn is_full(&self) -> bool {
        matches!(self.summary, Summary::Full | Summary::Count) && self.elements.is_empty()
    }

    /// The resource as this view shows it.
    pub fn apply<'a>(&self, json: &'a [u8]) -> Cow<'a, [u8]> {
        if self.is_full() {
            return Cow::Borrowed(json);
        }
        let Ok(Value::Object(resource)) = serde_json::from_slice::<Value>(json) else {
            return Cow::Borrowed(json);
        };
        let subset = self.subset(resource);
        Cow::Owned(serde_json::to_vec(&Value::Object(subset)).unwrap_or_else(|_| json.to_vec()))
    }

    fn subset(&self, resource: Map<String, Value>) -> Map<String, Value> {
        let rt = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let meta = hutong_fhir::r4::metadata();
        let keep = |key: &str| -> bool {
            if matches!(key, "resourceType" | "id" | "meta") {
                return true;
            }
            let name = key.strip_prefix('_').unwrap_or(key);
            let def = meta.element(&rt, name).map(|m| m.def);
            let mandatory = def.is_some_and(|d| d.min > 0);
            if !self.elements.is_empty() {
                return mandatory || self.elements.iter().any(|e| e == name);
            }
            match self.summary {
                Summary::True => name == "implicitRules" || def.is_some_and(|d| d.summary),
                Summary::Text => name == "text" || mandatory,
                Summary::Data => name != "text",
                Summary::Full | Summary::Count => true,
            }
        };
        let mut out: Map<String, Value> = resource.into_iter().filter(|(k, _)| keep(k)).collect();
        if self.summary != Summary::Data || !self.elements.is_empty() {
            tag_subsetted(&mut out);
        }
        out
    }
}

fn tag_subsetted(resource: &mut Map<String, Value>) {
    let meta = resource
        .entry("meta")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let tags = meta
        .entry("tag")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(tags) = tags.as_array_mut() {
        tags.push(serde_json::json!({"system": SUBSETTED_SYSTEM, "code": "SUBSETTED"}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(summary: Summary, elements: &[String], r: Value) -> Value {
        let v = View { summary, elements };
        serde_json::from_slice(&v.apply(&serde_json::to_vec(&r).unwrap())).unwrap()
    }

    fn patient() -> Value {
        json!({"resourceType": "Patient", "id": "p", "meta": {"versionId": "1"},
            "text": {"status": "generated", "div": "<div>x</div>"},
            "name": [{"family": "张"}], "gender": "male", "photo": [{"url": "http://x"}],
            "contact": [{"name": {"family": "李"}}], "birthDate": "1980-01-01",
            "_birthDate": {"extension": [{"url": "http://e", "valueString": "x"}]}})
    }

    #[test]
    fn summary_true_keeps_summary_elements_and_tags_the_subset() {
        let v = view(Summary::True, &[], patient());
        assert!(v.get("name").is_some() && v.get("gender").is_some());
        assert!(v.get("birthDate").is_some() && v.get("_birthDate").is_some());
        assert!(v.get("photo").is_none() && v.get("contact").is_none() && v.get("text").is_none());
        assert_eq!(v["meta"]["tag"][0]["code"], "SUBSETTED");
        assert_eq!(v["meta"]["versionId"], "1");
    }

    #[test]
    fn text_data_and_elements_views() {
        let t = view(Summary::Text, &[], patient());
        assert!(t.get("text").is_some() && t.get("name").is_none());
        let d = view(Summary::Data, &[], patient());
        assert!(d.get("text").is_none() && d.get("photo").is_some());
        assert!(d["meta"].get("tag").is_none());
        let e = view(Summary::Full, &["gender".to_owned()], patient());
        assert!(e.get("gender").is_some() && e.get("name").is_none() && e.get("id").is_some());
        let full = View {
            summary: Summary::Full,
            elements: &[],
        };
        let bytes = serde_json::to_vec(&patient()).unwrap();
        assert!(matches!(full.apply(&bytes), Cow::Borrowed(_)));
    }
}
