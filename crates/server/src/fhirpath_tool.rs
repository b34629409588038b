//! `hutong fhirpath '<expression>' [FILE.json]`: evaluates a FHIRPath expression against
//! a resource and prints the result collection as a JSON array.
use hutong_fhirpath::{Context, Expr};
use serde_json::Value;

/// Evaluates `expression` against the JSON `input`; the result as a JSON array text, or
/// an error message that says where the problem is.
pub fn evaluate(expression: &str, input: &[u8]) -> Result<String, String> {
    let expr = Expr::parse(expression).map_err(|e| {
        let caret = format!("{}^", " ".repeat(e.position));
        format!("{e}\n  {expression}\n  {caret}")
    })?;
    let resource: Value = if input.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(input).map_err(|e| format!("the input is not valid JSON: {e}"))?
    };
    let result = expr
        .evaluate(&resource, &Context::r4())
        .map_err(|e| format!("evaluation error: {e}"))?;
    serde_json::to_string_pretty(&result.to_json()).map_err(|e| e.to_string())
}
