//! Token search modifiers answered from terminology stored on this server (R4
//! search.html#token): `:in` / `:not-in` a ValueSet, `:below` / `:above` a code in a
//! CodeSystem. Before a query reaches the store, each such condition is expanded into
//! a plain list of `system|code` tokens, so the store only ever sees index lookups.
//!
//! Supported: ValueSets with an `expansion`, or a `compose` of `include`s that list
//! concepts, name a whole system (a stored complete CodeSystem is enumerated; any
//! other system matches by system), use an `is-a` / `descendent-of` filter on a stored
//! CodeSystem, or import other ValueSets; `exclude`s that list concepts. Anything else
//! is a 400 naming what is not supported, never a silently wrong answer.

use crate::app::AppState;
use crate::error::ApiError;
use axum::http::StatusCode;
use hutong_fhir::IssueType;
use hutong_search::query::{Condition, ParseOptions, Terminology, TokenValue};
use hutong_search::SearchQuery;
use hutong_store::AccessContext;
use serde_json::Value;

/// Most codes one expansion may produce.
pub const MAX_CODES: usize = 10_000;
/// How deep ValueSets may import ValueSets.
const MAX_DEPTH: usize = 4;

fn unsupported(param: &str, msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, IssueType::NotSupported, msg).at(param.to_owned())
}

/// Expands every terminology condition of `q` in place.
pub async fn expand(
    state: &AppState,
    ctx: &AccessContext,
    q: &mut SearchQuery,
) -> Result<(), ApiError> {
    let mut pending: Vec<Terminology> = Vec::new();
    for c in q.terminology_mut() {
        if let Condition::Terminology(t) = c {
            pending.push(t.clone());
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let mut expansions = Vec::with_capacity(pending.len());
    for t in &pending {
        let (not, values) = match t {
            Terminology::In { not, valueset } => {
                let mut ex = Expander { state, ctx };
                (*not, ex.valueset(valueset, 0).await?)
            }
            Terminology::Hierarchy {
                below,
                system,
                code,
            } => {
                let ex = Expander { state, ctx };
                (false, ex.hierarchy(*below, system, code).await?)
            }
        };
        expansions.push(Condition::Token { not, values });
    }
    for (c, e) in q.terminology_mut().into_iter().zip(expansions) {
        *c = e;
    }
    Ok(())
}

struct Expander<'a> {
    state: &'a AppState,
    ctx: &'a AccessContext,
}

/// Codes of a CodeSystem's concept tree: `(code, parent)` in document order.
fn concept_tree(cs: &Value) -> Vec<(String, Option<String>)> {
    fn walk(list: Option<&Value>, parent: Option<&str>, out: &mut Vec<(String, Option<String>)>) {
        for c in list.and_then(Value::as_array).into_iter().flatten() {
            if let Some(code) = c.get("code").and_then(Value::as_str) {
                out.push((code.to_owned(), parent.map(str::to_owned)));
                walk(c.get("concept"), Some(code), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(cs.get("concept"), None, &mut out);
    out
}

/// `code` and its descendants (`below`) or its ancestors (`!below`).
fn related(tree: &[(String, Option<String>)], code: &str, below: bool) -> Vec<String> {
    if !tree.iter().any(|(c, _)| c == code) {
        return Vec::new();
    }
    let mut out = vec![code.to_owned()];
    if below {
        let mut i = 0;
        while i < out.len() {
            let parent = out[i].clone();
            for (c, p) in tree {
                if p.as_deref() == Some(parent.as_str()) && !out.contains(c) {
                    out.push(c.clone());
                }
            }
            i += 1;
        }
    } else {
        let mut at = code.to_owned();
        while let Some(p) = tree
            .iter()
            .find(|(c, _)| *c == at)
            .and_then(|(_, p)| p.clone())
        {
            if out.contains(&p) {
                break;
            }
            out.push(p.clone());
            at = p;
        }
    }
    out
}

impl Expander<'_> {
    /// The current resource of `ty` whose `url` is `url` (a `|version` suffix is
    /// ignored: the stored one is used).
    async fn fetch(&self, ty: &str, url: &str) -> Result<Option<Value>, ApiError> {
        let url = url.split('|').next().unwrap_or(url);
        let q = SearchQuery::parse(
            ty,
            &[("url".to_owned(), url.to_owned())],
            &ParseOptions::default(),
        )
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let page = self.state.store.search(self.ctx, &q).await?;
        Ok(page
            .entries
            .first()
            .and_then(|v| serde_json::from_slice(&v.json).ok()))
    }

    async fn hierarchy(
        &self,
        below: bool,
        system: &str,
        code: &str,
    ) -> Result<Vec<TokenValue>, ApiError> {
        let modifier = if below { ":below" } else { ":above" };
        let Some(cs) = self.fetch("CodeSystem", system).await? else {
            return Err(unsupported(
                modifier,
                format!("{modifier} needs the CodeSystem {system} stored on this server"),
            ));
        };
        Ok(related(&concept_tree(&cs), code, below)
            .into_iter()
            .map(|c| TokenValue::SystemCode(system.to_owned(), c))
            .collect())
    }

    /// The codes of a ValueSet, as tokens.
    fn valueset<'s>(
        &'s mut self,
        url: &'s str,
        depth: usize,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Vec<TokenValue>, ApiError>> + Send + 's>,
    > {
        Box::pin(async move {
            if depth > MAX_DEPTH {
                return Err(unsupported(
                    ":in",
                    format!("ValueSets nest deeper than {MAX_DEPTH} at {url}"),
                ));
            }
            let Some(vs) = self.fetch("ValueSet", url).await? else {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    IssueType::NotFound,
                    format!("no ValueSet {url} is stored on this server"),
                )
                .at(":in".to_owned()));
            };
            let mut out: Vec<TokenValue> = Vec::new();
            if let Some(contains) = vs.pointer("/expansion/contains") {
                flatten_contains(contains, &mut out);
                return check_size(out);
            }
            let Some(compose) = vs.get("compose") else {
                return Err(unsupported(
                    ":in",
                    format!("ValueSet {url} has neither expansion nor compose"),
                ));
            };
            for inc in compose
                .get("include")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let part = self.include(inc, depth).await?;
                for t in part {
                    if !out.contains(&t) {
                        out.push(t);
                    }
                }
                check_len(out.len())?;
            }
            for exc in compose
                .get("exclude")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let system = exc.get("system").and_then(Value::as_str).unwrap_or("");
                let concepts = exc.get("concept").and_then(Value::as_array);
                let Some(concepts) = concepts else {
                    return Err(unsupported(
                        ":in",
                        "exclude of a whole system or filter is not supported",
                    ));
                };
                for c in concepts {
                    let code = c.get("code").and_then(Value::as_str).unwrap_or("");
                    out.retain(|t| {
                        *t != TokenValue::SystemCode(system.to_owned(), code.to_owned())
                    });
                }
            }
            check_size(out)
        })
    }

    /// One `compose.include`.
    async fn include(&mut self, inc: &Value, depth: usize) -> Result<Vec<TokenValue>, ApiError> {
        let system = inc.get("system").and_then(Value::as_str);
        let mut from_system: Option<Vec<TokenValue>> = None;
        if let Some(system) = system {
            if let Some(concepts) = inc.get("concept").and_then(Value::as_array) {
                from_system = Some(
                    concepts
                        .iter()
                        .filter_map(|c| c.get("code").and_then(Value::as_str))
                        .map(|c| TokenValue::SystemCode(system.to_owned(), c.to_owned()))
                        .collect(),
                );
            } else if let Some(filters) = inc.get("filter").and_then(Value::as_array) {
                let mut acc: Option<Vec<TokenValue>> = None;
                for f in filters {
                    let op = f.get("op").and_then(Value::as_str).unwrap_or("");
                    let value = f.get("value").and_then(Value::as_str).unwrap_or("");
                    let property = f.get("property").and_then(Value::as_str).unwrap_or("");
                    if !matches!(op, "is-a" | "descendent-of") || property != "concept" {
                        return Err(unsupported(
                            ":in",
                            format!("ValueSet filter '{property} {op}' is not supported (only concept is-a / descendent-of)"),
                        ));
                    }
                    let mut codes = self.hierarchy(true, system, value).await?;
                    if op == "descendent-of" {
                        codes.retain(|t| {
                            *t != TokenValue::SystemCode(system.to_owned(), value.to_owned())
                        });
                    }
                    acc = Some(match acc {
                        None => codes,
                        Some(prev) => prev.into_iter().filter(|t| codes.contains(t)).collect(),
                    });
                }
                from_system = acc;
            } else {
                // A whole system: enumerate a complete stored CodeSystem, else match
                // any code of the system.
                let cs = self.fetch("CodeSystem", system).await?;
                let complete = cs.as_ref().is_some_and(|cs| {
                    cs.get("content").and_then(Value::as_str) == Some("complete")
                });
                from_system = Some(match cs {
                    Some(cs) if complete => concept_tree(&cs)
                        .into_iter()
                        .map(|(c, _)| TokenValue::SystemCode(system.to_owned(), c))
                        .collect(),
                    _ => vec![TokenValue::System(system.to_owned())],
                });
            }
        }
        let imports: Vec<&str> = inc
            .get("valueSet")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut result = from_system;
        for url in imports {
            let codes = self.valueset(url, depth + 1).await?;
            result = Some(match result {
                None => codes,
                Some(prev) => {
                    if prev
                        .iter()
                        .chain(&codes)
                        .any(|t| matches!(t, TokenValue::System(_)))
                    {
                        return Err(unsupported(
                            ":in",
                            "intersecting a whole code system is not supported",
                        ));
                    }
                    prev.into_iter().filter(|t| codes.contains(t)).collect()
                }
            });
        }
        Ok(result.unwrap_or_default())
    }
}

fn flatten_contains(list: &Value, out: &mut Vec<TokenValue>) {
    for c in list.as_array().into_iter().flatten() {
        if let (Some(s), Some(code)) = (
            c.get("system").and_then(Value::as_str),
            c.get("code").and_then(Value::as_str),
        ) {
            let t = TokenValue::SystemCode(s.to_owned(), code.to_owned());
            if !out.contains(&t) {
                out.push(t);
            }
        }
        if let Some(inner) = c.get("contains") {
            flatten_contains(inner, out);
        }
    }
}

fn check_len(n: usize) -> Result<(), ApiError> {
    if n > MAX_CODES {
        return Err(unsupported(
            ":in",
            format!("the ValueSet expands to more than {MAX_CODES} codes"),
        ));
    }
    Ok(())
}

fn check_size(out: Vec<TokenValue>) -> Result<Vec<TokenValue>, ApiError> {
    check_len(out.len())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hierarchy_walks_descendants_and_ancestors() {
        let cs = json!({"concept": [
            {"code": "a", "concept": [{"code": "b", "concept": [{"code": "c"}]}, {"code": "d"}]},
            {"code": "e"}]});
        let tree = concept_tree(&cs);
        let mut below = related(&tree, "a", true);
        below.sort();
        assert_eq!(below, ["a", "b", "c", "d"]);
        assert_eq!(related(&tree, "c", false), ["c", "b", "a"]);
        assert!(related(&tree, "zz", true).is_empty());
    }
}
