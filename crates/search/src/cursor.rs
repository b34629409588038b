//! The opaque keyset cursor of search paging: the sort-key values and id of the last
//! (or first) entry of a page, so the next page starts strictly after it (no OFFSET:
//! cost does not grow with the page number, and entries added or removed between pages
//! never shift the others).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// One sort-key value of a row (`None` when the resource has no value for that key).
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// Sort-key values of the boundary row, in `_sort` order.
    pub values: Vec<SortValue>,
    /// Id of the boundary row (the final tie-break).
    pub id: String,
    /// `true`: the page *before* the boundary row (a `previous` link).
    pub backward: bool,
    /// The `_sort` text the cursor was made for; a cursor is only valid with it.
    pub sort: String,
}

impl Cursor {
    /// URL-safe opaque text.
    pub fn encode(&self) -> String {
        let values: Vec<Value> = self
            .values
            .iter()
            .map(|v| match v {
                SortValue::Null => Value::Null,
                SortValue::Int(i) => Value::from(*i),
                SortValue::Real(f) => serde_json::json!({ "r": f.to_string() }),
                SortValue::Text(s) => Value::from(s.as_str()),
            })
            .collect();
        let v = serde_json::json!([values, self.id, self.backward, self.sort]);
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    /// Parses [`Cursor::encode`] output; `None` for anything else.
    pub fn decode(s: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
        let v: Value = serde_json::from_slice(&bytes).ok()?;
        let a = v.as_array()?;
        let values = a
            .first()?
            .as_array()?
            .iter()
            .map(|x| match x {
                Value::Null => Some(SortValue::Null),
                Value::String(s) => Some(SortValue::Text(s.clone())),
                Value::Number(n) => n.as_i64().map(SortValue::Int),
                Value::Object(o) => o
                    .get("r")?
                    .as_str()?
                    .parse::<f64>()
                    .ok()
                    .map(SortValue::Real),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Cursor {
            values,
            id: a.get(1)?.as_str()?.to_owned(),
            backward: a.get(2)?.as_bool()?,
            sort: a.get(3)?.as_str()?.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            values: vec![
                SortValue::Null,
                SortValue::Int(-5),
                SortValue::Real(0.1),
                SortValue::Text("张".into()),
            ],
            id: "a-1".into(),
            backward: true,
            sort: "-date,name".into(),
        };
        let text = c.encode();
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Cursor::decode(&text), Some(c));
        assert_eq!(Cursor::decode("not a cursor"), None);
    }
}
