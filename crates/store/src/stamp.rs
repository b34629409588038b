//! Version stamping: the transaction timestamp and the `meta` every stored version
//! carries, written once at write time so reads can serve the stored bytes as they are.

use serde_json::Value;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::StoreError;

/// The instant of a transaction: now, in UTC, truncated to microseconds (the
/// precision both databases keep, so a timestamp read back equals the one written).
pub(crate) fn transaction_instant() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

/// Microseconds since the Unix epoch, the stored form of `last_updated`.
/// Instants outside the `i64` range saturate (only reachable through query filters).
pub(crate) fn to_micros(t: OffsetDateTime) -> i64 {
    let micros = t.unix_timestamp_nanos() / 1_000;
    i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX })
}

/// The inverse of [`to_micros`], for values read from the database.
pub(crate) fn from_micros(micros: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|e| StoreError::Corrupt(format!("last_updated {micros} out of range: {e}")))
}

/// FHIR `instant` rendering with fixed microsecond precision and `Z`
/// (R4 datatypes.html#instant), e.g. `2026-11-25T18:40:00.123456Z`.
pub(crate) fn fhir_instant(t: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    // Formatting a UTC instant with a fixed description fails only for years outside
    // 0..=9999, which `transaction_instant` cannot produce.
    t.format(&format).unwrap_or_else(|_| t.to_string())
}

/// Sets `meta.versionId` and `meta.lastUpdated` (first in `meta`, as R4 orders them)
/// keeping every other element in place, and serialises the resource once.
/// A missing `meta` is inserted right after `id`.
pub(crate) fn stamp(
    mut resource: Value,
    version: u64,
    last_updated: &str,
) -> Result<Vec<u8>, String> {
    let Value::Object(map) = &mut resource else {
        return Err("resource is not a JSON object".to_owned());
    };
    if !map.contains_key("meta") {
        let at = map
            .keys()
            .position(|k| k == "id")
            .map_or(map.len(), |p| p + 1);
        map.shift_insert(at, "meta".to_owned(), Value::Object(Default::default()));
    }
    let Some(Value::Object(meta)) = map.get_mut("meta") else {
        return Err("meta is not a JSON object".to_owned());
    };
    meta.shift_insert(
        0,
        "versionId".to_owned(),
        Value::String(version.to_string()),
    );
    meta.shift_insert(
        1,
        "lastUpdated".to_owned(),
        Value::String(last_updated.to_owned()),
    );
    serde_json::to_vec(&resource).map_err(|e| format!("cannot serialise resource: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stamp_inserts_meta_after_id_and_keeps_other_meta() {
        let bytes = stamp(
            json!({"resourceType": "Patient", "id": "p", "active": true}),
            3,
            "T",
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"resourceType":"Patient","id":"p","meta":{"versionId":"3","lastUpdated":"T"},"active":true}"#
        );
        let bytes = stamp(
            json!({"resourceType": "Patient", "id": "p", "meta": {"tag": [{"code": "x"}], "versionId": "9"}}),
            4,
            "T",
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"resourceType":"Patient","id":"p","meta":{"versionId":"4","lastUpdated":"T","tag":[{"code":"x"}]}}"#
        );
    }

    #[test]
    fn instants_render_with_microseconds_and_z() {
        let t = time::macros::datetime!(2026-11-25 18:40:00.123456 UTC);
        assert_eq!(fhir_instant(t), "2026-11-25T18:40:00.123456Z");
        assert_eq!(from_micros(to_micros(t)).unwrap(), t);
    }
}
