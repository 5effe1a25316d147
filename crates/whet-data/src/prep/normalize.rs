//! Text normalisation: mojibake repair, HTML to text, Unicode NFC, control and zero-width
//! characters, whitespace.
//!
//! Order: mojibake first (it works on the bytes as they were mis-decoded), then HTML (entities
//! decode to characters that later steps see), then NFC, control characters and whitespace.
//!
//! - Mojibake: UTF-8 text that was decoded as Windows-1252 shows as `Ã©`, `â€™`, ... A word is
//!   re-encoded to Windows-1252 bytes and decoded as UTF-8; the repair is kept only when it
//!   decodes cleanly and contains fewer suspicious characters. Written here (a few lines)
//!   because the Rust ports of `ftfy` are unmaintained; it fixes only this, the commonest, case.
//! - HTML: a field is converted (with `html2text`) only when it has at least two tags from a
//!   list of common HTML tags and no Markdown code fence, so code that mentions `<div>` in a
//!   fenced block is left alone. Inline code without fences that looks like HTML is converted:
//!   a known limitation.
//! - Zero-width characters removed: U+200B, U+2060, U+FEFF, U+00AD. ZWJ (U+200D) and ZWNJ
//!   (U+200C) are kept: emoji sequences and Persian/Indic text need them.
//! - Whitespace: CRLF/CR → LF; no-break and other Unicode spaces → space; trailing spaces on
//!   each line removed; runs of 3+ newlines → 2; the field trimmed. Leading indentation and
//!   inner runs of spaces are kept (code).

use std::sync::OnceLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use super::config::{HtmlMode, Normalize};

/// Normalises one field in place; returns true when the text changed.
pub fn normalize_text(text: &mut String, cfg: &Normalize) -> bool {
    if !cfg.enabled {
        return false;
    }
    let mut changed = false;
    if cfg.fix_mojibake && looks_mojibaked(text) {
        let fixed = fix_mojibake(text);
        if fixed != *text {
            *text = fixed;
            changed = true;
        }
    }
    if cfg.html == HtmlMode::Strip && looks_like_html(text) {
        *text = html_to_text(text);
        changed = true;
    }
    if cfg.nfc && !text.is_ascii() && !unicode_normalization::is_nfc(text) {
        *text = text.nfc().collect();
        changed = true;
    }
    if cfg.strip_control && text.chars().any(is_control_or_zero_width) {
        text.retain(|c| !is_control_or_zero_width(c));
        changed = true;
    }
    if cfg.whitespace {
        let w = normalize_whitespace(text);
        if w != *text {
            *text = w;
            changed = true;
        }
    }
    changed
}

fn is_control_or_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}')
        || (c.is_control() && c != '\n' && c != '\t' && c != '\r')
}

fn normalize_whitespace(s: &str) -> String {
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(s.len());
    let mut blank = 0usize;
    for line in s.split('\n') {
        let line: String = line
            .chars()
            .map(|c| if c != '\t' && c.is_whitespace() { ' ' } else { c })
            .collect();
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out.trim().to_string()
}

static HTML_TAG: OnceLock<Option<Regex>> = OnceLock::new();

fn html_tag() -> Option<&'static Regex> {
    HTML_TAG
        .get_or_init(|| {
            Regex::new(r"(?i)</?(html|body|head|p|div|span|br|a|b|i|em|strong|ul|ol|li|h[1-6]|table|tr|td|th|title|meta|script|style|section|article|nav|footer|header|img)\b[^>]*>").ok()
        })
        .as_ref()
}

/// At least two known HTML tags and no Markdown code fence.
pub fn looks_like_html(s: &str) -> bool {
    if !s.contains('<') || s.contains("```") {
        return false;
    }
    html_tag().is_some_and(|re| re.find_iter(s).take(2).count() >= 2)
}

/// HTML to plain text without decoration; on a parse failure the input is returned as is.
pub fn html_to_text(s: &str) -> String {
    html2text::config::plain_no_decorate()
        .allow_width_overflow()
        .string_from_read(s.as_bytes(), 10_000)
        .unwrap_or_else(|_| s.to_string())
}

/// Characters that mis-decoded UTF-8 lead bytes turn into.
fn looks_mojibaked(s: &str) -> bool {
    !s.is_ascii() && (s.contains('Ã') || s.contains('Â') || s.contains("â€") || s.contains('Ð') || s.contains("Ã"))
}

fn suspicious(s: &str) -> usize {
    s.chars()
        .filter(|c| matches!(c, 'Ã' | 'Â' | 'â' | 'Ð' | 'Ñ' | '€' | '™' | '\u{80}'..='\u{9F}'))
        .count()
}

/// Windows-1252 byte for a char, if it has one.
fn cp1252_byte(c: char) -> Option<u8> {
    let u = c as u32;
    if u < 0x80 || (0xA0..=0xFF).contains(&u) {
        return Some(u as u8);
    }
    if (0x80..=0x9F).contains(&u) {
        // Undefined cp1252 positions (0x81, 0x8D, 0x8F, 0x90, 0x9D) pass through as C1 controls.
        return Some(u as u8);
    }
    Some(match c {
        '€' => 0x80, '‚' => 0x82, 'ƒ' => 0x83, '„' => 0x84, '…' => 0x85, '†' => 0x86, '‡' => 0x87,
        'ˆ' => 0x88, '‰' => 0x89, 'Š' => 0x8A, '‹' => 0x8B, 'Œ' => 0x8C, 'Ž' => 0x8E, '‘' => 0x91,
        '’' => 0x92, '“' => 0x93, '”' => 0x94, '•' => 0x95, '–' => 0x96, '—' => 0x97, '˜' => 0x98,
        '™' => 0x99, 'š' => 0x9A, '›' => 0x9B, 'œ' => 0x9C, 'ž' => 0x9E, 'Ÿ' => 0x9F,
        _ => return None,
    })
}

/// Repairs each whitespace-separated word that re-decodes to cleaner UTF-8.
pub fn fix_mojibake(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for piece in s.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        let tail = &piece[word.len()..];
        let fixed = (!word.is_ascii())
            .then(|| word.chars().map(cp1252_byte).collect::<Option<Vec<u8>>>())
            .flatten()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|f| suspicious(f) < suspicious(word));
        out.push_str(fixed.as_deref().unwrap_or(word));
        out.push_str(tail);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let mut t = s.to_string();
        normalize_text(&mut t, &Normalize::default());
        t
    }

    #[test]
    fn nfc_composes_decomposed_accents() {
        assert_eq!(norm("cafe\u{301}"), "café");
    }

    #[test]
    fn clean_text_is_reported_unchanged() {
        let mut t = "Already clean.\nTwo lines, café.".to_string();
        assert!(!normalize_text(&mut t, &Normalize::default()));
        let mut t = "trailing space ".to_string();
        assert!(normalize_text(&mut t, &Normalize::default()));
    }

    #[test]
    fn zero_width_and_control_characters_are_removed_but_zwj_kept() {
        assert_eq!(norm("a\u{200B}b\u{0007}c\u{FEFF}d"), "abcd");
        assert_eq!(norm("👩\u{200D}💻"), "👩\u{200D}💻");
    }

    #[test]
    fn whitespace_keeps_indentation_and_caps_blank_lines() {
        assert_eq!(norm("  a\u{00A0}b  \r\n\r\n\r\n\r\n    c\t"), "a b\n\n    c");
        assert_eq!(norm("x\ny"), "x\ny");
    }

    #[test]
    fn mojibake_is_repaired() {
        assert_eq!(norm("cafÃ© â€œquotedâ€\u{9d} naÃ¯ve"), "café “quoted” naïve");
        assert_eq!(norm("Ärger über Öl"), "Ärger über Öl");
    }

    #[test]
    fn html_documents_become_text_but_fenced_code_is_kept() {
        let t = norm("<html><body><p>Hello <b>world</b> &amp; friends</p><p>Second</p></body></html>");
        assert!(t.contains("Hello world & friends") && t.contains("Second") && !t.contains('<'), "{t}");
        let code = "```html\n<div><p>x</p></div>\n```";
        assert_eq!(norm(code), code);
        assert_eq!(norm("a < b and c > d"), "a < b and c > d");
    }
}
