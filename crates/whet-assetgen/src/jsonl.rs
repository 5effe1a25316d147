//! JSON string escaping for the JSONL outputs, written out here (rather than through
//! `serde_json`) so the binary depends on nothing whose output could change: the escapes are
//! exactly JSON's short forms for `"`, `\`, `\n`, `\r`, `\t`, `\b`, `\f` and `\u00XX` for other
//! control characters, which is also what `serde_json` writes (the tests check that).

/// Appends `s` as a JSON string literal, quotes included.
pub fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> String {
        let mut out = String::new();
        push_string(&mut out, s);
        out
    }

    #[test]
    fn matches_serde_json() {
        for s in [
            "plain",
            "quote \" and \\ slash /",
            "lines\nand\ttabs\r",
            "\u{1}\u{8}\u{c}\u{1f}",
            "<|im_start|>user\nHi<|im_end|>\n",
        ] {
            assert_eq!(string(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }
}
