//! FHIRPath (normative release N1, as FHIR R4 uses it) over FHIR R4 JSON.
//!
//! **Owns**: the FHIRPath grammar and parser, the evaluator and every N1 function, the FHIR
//! extensions R4 search parameters and invariants use (`extension()`, `resolve()`,
//! `hasValue()`, `getValue()`, `htmlChecks()`, `memberOf()`, `%resource`, `%ucum`,
//! `` %`vs-…` `` …), exact decimal and partial-precision date/time semantics, and enough UCUM
//! to compare quantities.
//!
//! **Must never**: panic or overflow the stack on any input (expressions are nested at most
//! [`parser::MAX_DEPTH`] deep, collections hold at most [`MAX_ITEMS`] items); convert the
//! input JSON to typed models or clone it while navigating (results borrow from it); do I/O
//! (resolution and terminology go through hooks in [`Context`]).
//!
//! **Entry points**: compile once with [`Expr::parse`], evaluate many times with
//! [`Expr::evaluate`] against a resource's JSON and a [`Context`] carrying the type model
//! ([`ModelProvider`]; [`r4_model::R4Model`] for FHIR R4) and optional hooks.
//!
//! ```
//! use hutong_fhirpath::{Context, Expr};
//! let expr = Expr::parse("Patient.name.where(use = 'official').given.first()").unwrap();
//! let patient = serde_json::json!({"resourceType": "Patient",
//!     "name": [{"use": "official", "given": ["Peter", "James"]}]});
//! let ctx = Context::r4();
//! let out = expr.evaluate(&patient, &ctx).unwrap();
//! assert_eq!(out.to_json(), serde_json::json!(["Peter"]));
//! ```
//!
//! # Departures from strict N1
//! - **Lenient `as`**: `x as T` and `x.as(T)` on a collection of several items keep the
//!   items of type `T` (like `ofType`) instead of raising an error, because the official
//!   R4 SearchParameter expressions depend on it
//!   (`(Observation.value as Quantity) | (Observation.value as SampledData)`).
//! - **No semantic (compile-time) checking of paths**: `Patient.name.given1` or
//!   `Observation.valueQuantity` evaluate to what the JSON holds instead of being rejected
//!   against the model; the official "strict mode" tests that expect a semantic error are
//!   listed as known failures.
//! - **Function arguments** that are not lambdas (criteria, projections, sort keys) are
//!   evaluated against the same focus as the function call itself (`$this` of the
//!   enclosing scope), as the reference implementations do.
//! - **`htmlChecks()`** only checks that the narrative is a `<div>`; it does not validate
//!   the XHTML.
//! - **`now()`** is fixed for one evaluation and can be pinned through [`Context::with_now`].
//! - Strings are compared by Unicode code points, not by collation.

pub mod ast;
pub mod datetime;
pub mod decimal;
mod eval;
mod functions;
pub mod model;
pub mod parser;
pub mod r4_model;
pub mod ucum;
pub mod value;

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::datetime::DateTime;
pub use crate::model::{Element, ModelProvider, NoModel, TypeKind};
pub use crate::value::{Collection, Item, JsonNode, NodeType, Quantity};

/// Most items any intermediate collection may hold.
pub const MAX_ITEMS: usize = 1_000_000;

/// An expression text that does not parse: what was expected, and at which character.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("FHIRPath syntax error at character {position}: {message}")]
pub struct ParseError {
    /// Zero-based character offset into the expression text.
    pub position: usize,
    /// What was expected and what was found.
    pub message: String,
}

/// Why an evaluation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// An operator or function got a value of the wrong type.
    #[error("type error: {0}")]
    Type(String),
    /// A function or operator needs at most one item and got several.
    #[error("{0} expects a single item, found {1}")]
    NotSingleton(String, usize),
    /// `%name` is not defined in the context.
    #[error("undefined environment variable %{0}")]
    UnknownVariable(String),
    /// An intermediate collection grew beyond [`MAX_ITEMS`].
    #[error("collection larger than {0} items")]
    TooLarge(usize),
    /// Any other invalid operation (bad regex, bad argument value, …).
    #[error("{0}")]
    Invalid(String),
}

/// Answers `memberOf()` questions; supplied by the terminology service.
pub trait Terminology {
    /// Whether `code` from `system` is in the value set `value_set` (canonical URL);
    /// `None` when unknown.
    fn member_of(&self, system: Option<&str>, code: &str, value_set: &str) -> Option<bool>;
}

type ResolverFn<'c> = dyn Fn(&str) -> Option<&'c Value> + 'c;
type TraceFn<'c> = dyn Fn(&str, &[Item<'_>]) + 'c;

/// Everything an evaluation may consult besides the input: the type model, environment
/// variables and hooks. Build once, reuse for many evaluations.
pub struct Context<'c> {
    model: &'c dyn ModelProvider,
    variables: HashMap<String, Vec<Item<'c>>>,
    resolver: Option<Box<ResolverFn<'c>>>,
    terminology: Option<&'c dyn Terminology>,
    trace: Option<Box<TraceFn<'c>>>,
    now: Option<DateTime>,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("variables", &self.variables.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<'c> Context<'c> {
    /// A context over the given type model, without hooks.
    pub fn new(model: &'c dyn ModelProvider) -> Self {
        Context {
            model,
            variables: HashMap::new(),
            resolver: None,
            terminology: None,
            trace: None,
            now: None,
        }
    }

    /// A context over the FHIR R4 model.
    pub fn r4() -> Self {
        Context::new(r4_model::R4Model::get())
    }

    /// Define `%name` (overrides the built-in `%resource`, `%context`, … when given).
    pub fn with_variable(mut self, name: impl Into<String>, value: Vec<Item<'c>>) -> Self {
        self.variables.insert(name.into(), value);
        self
    }

    /// Resolve references that are not in the input's Bundle or `contained` (for
    /// `resolve()`): the hook gets the reference text (`Patient/123`, an absolute URL, …).
    pub fn with_resolver(mut self, f: impl Fn(&str) -> Option<&'c Value> + 'c) -> Self {
        self.resolver = Some(Box::new(f));
        self
    }

    /// Answer `memberOf()` through a terminology service.
    pub fn with_terminology(mut self, t: &'c dyn Terminology) -> Self {
        self.terminology = Some(t);
        self
    }

    /// Receive `trace(name)` output (otherwise it is discarded).
    pub fn with_trace(mut self, f: impl Fn(&str, &[Item<'_>]) + 'c) -> Self {
        self.trace = Some(Box::new(f));
        self
    }

    /// Pin the value of `now()` / `today()` / `timeOfDay()` (e.g. for reproducible tests).
    /// The text is a FHIR dateTime with a time part.
    pub fn with_now(mut self, now: &str) -> Self {
        self.now = DateTime::parse(now).map(|(d, _)| d);
        self
    }

    /// The type model.
    pub fn model(&self) -> &'c dyn ModelProvider {
        self.model
    }
}

/// A compiled FHIRPath expression. Parse once, evaluate many times; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Expr {
    root: ast::Node,
    text: String,
}

impl Expr {
    /// Compile expression text. Errors say what was expected and at which character.
    pub fn parse(text: &str) -> Result<Expr, ParseError> {
        Ok(Expr {
            root: parser::parse(text)?,
            text: text.to_string(),
        })
    }

    /// The expression text as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The compiled tree.
    pub fn ast(&self) -> &ast::Node {
        &self.root
    }

    /// Evaluate against a resource (or any element) given as JSON. The resource is also
    /// `%resource`, `%rootResource` and `%context`.
    pub fn evaluate<'a, 'c: 'a>(
        &self,
        resource: &'a Value,
        ctx: &Context<'c>,
    ) -> Result<Collection<'a>, EvalError> {
        let mut ev = eval::Eval::new(ctx, resource);
        let root = ev.root.clone();
        let focus = [root];
        let env = eval::Env {
            this: Some(&focus[0]),
            index: None,
            total: None,
        };
        ev.eval(&self.root, &focus, env).map(Collection)
    }

    /// Evaluate with `focus` (an item taken from `resource`, typed as the model knows
    /// it) as the input collection and `$this`, while `%resource` stays the whole
    /// resource: how a composite search parameter's components are evaluated on each
    /// element its expression selects.
    pub fn evaluate_on<'a, 'c: 'a>(
        &self,
        resource: &'a Value,
        focus: &Item<'a>,
        ctx: &Context<'c>,
    ) -> Result<Collection<'a>, EvalError> {
        let mut ev = eval::Eval::new(ctx, resource);
        let focus = [focus.clone()];
        let env = eval::Env {
            this: Some(&focus[0]),
            index: None,
            total: None,
        };
        ev.eval(&self.root, &focus, env).map(Collection)
    }
}
