//! Transaction Bundles of generated resources, in two forms: `PUT Type/id` (the
//! region's own ids, idempotent; what `--out` writes and the demo loads) and
//! `POST` with `urn:uuid:` full URLs (the server assigns ids; what load tests send
//! again and again).

use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// How entries of a transaction Bundle are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleMode {
    /// `PUT Type/id`, references as `Type/id`.
    Put,
    /// `POST Type` with `fullUrl` `urn:uuid:…` derived from `salt` and the resource id;
    /// references to resources of the same Bundle rewritten to those URNs. Different
    /// salts give different URNs, so the same resident can be posted many times.
    Post {
        /// Salt of the URNs.
        salt: u64,
    },
}

/// A transaction Bundle of `resources` (each with `resourceType` and `id`).
pub fn transaction_bundle(resources: &[Value], mode: BundleMode) -> Value {
    let entries: Vec<Value> = match mode {
        BundleMode::Put => resources
            .iter()
            .map(|r| {
                let url = format!("{}/{}", type_of(r), id_of(r));
                json!({"resource": r, "request": {"method": "PUT", "url": url}})
            })
            .collect(),
        BundleMode::Post { salt } => {
            let urns: HashMap<String, String> = resources
                .iter()
                .map(|r| {
                    let local = format!("{}/{}", type_of(r), id_of(r));
                    let urn = format!("urn:uuid:{}", uuid_from(salt, &local));
                    (local, urn)
                })
                .collect();
            resources
                .iter()
                .map(|r| {
                    let local = format!("{}/{}", type_of(r), id_of(r));
                    let mut resource = r.clone();
                    if let Some(o) = resource.as_object_mut() {
                        o.remove("id");
                    }
                    rewrite(&mut resource, &urns);
                    json!({
                        "fullUrl": urns.get(&local).cloned().unwrap_or_default(),
                        "resource": resource,
                        "request": {"method": "POST", "url": type_of(r)}
                    })
                })
                .collect()
        }
    };
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

fn type_of(r: &Value) -> &str {
    r.get("resourceType").and_then(Value::as_str).unwrap_or("")
}

fn id_of(r: &Value) -> &str {
    r.get("id").and_then(Value::as_str).unwrap_or("")
}

/// Rewrites every `reference` found in `urns`.
fn rewrite(v: &mut Value, urns: &HashMap<String, String>) {
    match v {
        Value::Object(o) => rewrite_object(o, urns),
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, urns)),
        _ => {}
    }
}

fn rewrite_object(o: &mut Map<String, Value>, urns: &HashMap<String, String>) {
    for (k, child) in o.iter_mut() {
        if k == "reference" {
            if let Some(new) = child.as_str().and_then(|s| urns.get(s)) {
                *child = Value::String(new.clone());
            }
        } else {
            rewrite(child, urns);
        }
    }
}

/// A version-4-shaped UUID derived from a salt and a name (FNV-1a, two lanes).
fn uuid_from(salt: u64, name: &str) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4 ^ salt.rotate_left(17);
    for byte in name.bytes() {
        a = (a ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        b = (b ^ u64::from(byte))
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(5);
    }
    let x = (u128::from(a) << 64) | u128::from(b);
    let x = (x & !(0xf << 76)) | (0x4 << 76);
    let x = (x & !(0x3 << 62)) | (0x2 << 62);
    let h = format!("{x:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
