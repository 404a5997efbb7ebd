//! The configuration's JSON reader (src/core/json.rs) against serde_json: the same verdict on every input and the same
//! values, as the unit test `json::tests::agrees_with_serde_json` checks on a fixed list. Two differences are on
//! purpose and skipped: a duplicate key (ours refuses it, serde_json keeps the last) and nesting deeper than ours
//! allows (32; serde_json: 128).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_headers_core::json::{self, Json};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let ours = json::parse(data);
    if let Err(e) = &ours {
        if matches!(e.message, "duplicate key" | "nested too deeply") {
            return;
        }
        assert!(e.offset <= data.len(), "error offset {} beyond the input ({} bytes)", e.offset, data.len());
    }
    let reference: Result<Value, _> = serde_json::from_slice(data);
    assert_eq!(ours.is_ok(), reference.is_ok(), "{:?}: {ours:?} vs {reference:?}", String::from_utf8_lossy(data));
    if let (Ok(ours), Ok(reference)) = (ours, reference) {
        assert_eq!(to_serde(&ours), reference, "{:?}", String::from_utf8_lossy(data));
    }
});

/// Our value as serde_json's. A number keeps its text here: serde_json reads that text alone, so a number compares
/// as serde_json's own reading of it (integer or the nearest double).
fn to_serde(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            let number: Value = serde_json::from_str(n).unwrap_or_else(|e| panic!("our number {n:?}: serde_json {e}"));
            assert!(number.is_number(), "{n:?}");
            number
        }
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(to_serde).collect()),
        Json::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), to_serde(v))).collect()),
    }
}
