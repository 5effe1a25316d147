//! JSON string literals for the JSONL outputs. Lines are assembled by hand (fixed key order, no
//! map), with `serde_json` escaping each string: JSON's escapes are fixed by the spec, so the
//! bytes do not depend on the crate's version.

/// Appends `s` as a JSON string literal, quotes included.
pub fn push_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::String(s.to_owned()).to_string());
}
