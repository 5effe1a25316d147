//! PII detection and redaction with typed placeholders.
//!
//! | type | placeholder | how it is found |
//! |---|---|---|
//! | `email` | `<EMAIL>` | regex |
//! | `phone` | `<PHONE>` | international `+CC …` (8–15 digits) or North-American `(555) 123-4567`; not when more digit groups continue on either side (card-like numbers) |
//! | `ip_address` | `<IP_ADDRESS>` | IPv4/IPv6 candidates that `std::net` parses; IPv6 needs 3+ groups (so `::` in code is not an address) |
//! | `credit_card` | `<CREDIT_CARD>` | 13–19 digits (spaces/dashes allowed), issuer prefix 2–6, Luhn checksum |
//! | `iban` | `<IBAN>` | country + check digits + BBAN, ISO 13616 mod-97 checksum |
//! | `national_id` | `<NATIONAL_ID>` | US SSN (`123-45-6789`, invalid areas 000/666/9xx excluded), UK NINO |
//! | `secret` | `<SECRET>` | AWS, GitHub, OpenAI/Anthropic-style, Slack, Google keys, JWTs, PEM private keys, `password=`/`api_key:` values |
//! | `url_credentials` | `<URL_WITH_CREDENTIALS>` | `scheme://user:password@host…` |
//!
//! Overlapping hits are resolved by the table's priority, highest first: URL credentials,
//! secrets, e-mail, IBAN, credit card, national ID, IP, phone. Luhn and mod-97 are written here
//! (a few lines each) because they are the checksums themselves, not detectors; the crates that
//! offer them add nothing else whet uses. Not detected: names, postal addresses, dates of birth
//! (they need NER models, which whet does not ship), phone numbers without separators.

use std::net::{Ipv4Addr, Ipv6Addr};

use regex::Regex;

use super::config::{Pii, PiiAction};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiKind {
    UrlCredentials,
    Secret,
    Email,
    Iban,
    CreditCard,
    NationalId,
    IpAddress,
    Phone,
}

impl PiiKind {
    /// In priority order.
    pub const ALL: [PiiKind; 8] = [
        PiiKind::UrlCredentials,
        PiiKind::Secret,
        PiiKind::Email,
        PiiKind::Iban,
        PiiKind::CreditCard,
        PiiKind::NationalId,
        PiiKind::IpAddress,
        PiiKind::Phone,
    ];

    pub fn key(self) -> &'static str {
        match self {
            PiiKind::UrlCredentials => "url_credentials",
            PiiKind::Secret => "secret",
            PiiKind::Email => "email",
            PiiKind::Iban => "iban",
            PiiKind::CreditCard => "credit_card",
            PiiKind::NationalId => "national_id",
            PiiKind::IpAddress => "ip_address",
            PiiKind::Phone => "phone",
        }
    }

    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::UrlCredentials => "<URL_WITH_CREDENTIALS>",
            PiiKind::Secret => "<SECRET>",
            PiiKind::Email => "<EMAIL>",
            PiiKind::Iban => "<IBAN>",
            PiiKind::CreditCard => "<CREDIT_CARD>",
            PiiKind::NationalId => "<NATIONAL_ID>",
            PiiKind::IpAddress => "<IP_ADDRESS>",
            PiiKind::Phone => "<PHONE>",
        }
    }

    pub fn from_key(k: &str) -> Option<PiiKind> {
        PiiKind::ALL.into_iter().find(|p| p.key() == k)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

pub struct PiiDetector {
    url_credentials: Regex,
    secrets: Vec<Regex>,
    /// `password = value` style: only capture group 1 is secret.
    secret_assignment: Regex,
    email: Regex,
    iban: Regex,
    card: Regex,
    ssn: Regex,
    nino: Regex,
    ipv4: Regex,
    ipv6: Regex,
    phone: Vec<Regex>,
    actions: [PiiAction; 8],
}

fn re(pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|e| Error::Config {
        path: "built-in PII patterns".into(),
        location: String::new(),
        key: pattern.into(),
        message: e.to_string(),
    })
}

impl PiiDetector {
    pub fn new(cfg: &Pii) -> Result<Self> {
        let mut actions = [cfg.default_action; 8];
        for (k, a) in &cfg.actions {
            if let Some(kind) = PiiKind::from_key(k) {
                actions[kind.index()] = *a;
            }
        }
        Ok(PiiDetector {
            url_credentials: re(r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:[^\s/@]+@[^\s/?#]+[^\s]*")?,
            secrets: [
                r"\bAKIA[0-9A-Z]{16}\b",
                r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
                r"\bgithub_pat_[A-Za-z0-9_]{22,}\b",
                r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}",
                r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
                r"\bAIza[0-9A-Za-z_\-]{35}\b",
                r"\beyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}",
                r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
            ]
            .iter()
            .map(|p| re(p))
            .collect::<Result<_>>()?,
            secret_assignment: re(
                r#"(?i)\b(?:api[_\-]?key|secret(?:[_\-]?key)?|access[_\-]?token|auth[_\-]?token|password|passwd|pwd)["']?\s*[:=]\s*["']?([A-Za-z0-9_\-+/=.!@#$%^&*]{8,})"#,
            )?,
            email: re(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b")?,
            iban: re(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")?,
            card: re(r"\b\d(?:[ \-]?\d){12,18}\b")?,
            ssn: re(r"\b(\d{3})-(\d{2})-(\d{4})\b")?,
            nino: re(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")?,
            ipv4: re(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")?,
            ipv6: re(r"(?i)(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}")?,
            phone: vec![
                re(r"\+\d{1,3}[ .\-]?\(?\d{1,4}\)?(?:[ .\-]?\d{2,4}){2,4}\b")?,
                re(r"(?:\(\d{3}\)\s?|\b\d{3}[ .\-])\d{3}[ .\-]\d{4}\b")?,
            ],
            actions,
        })
    }

    pub fn action(&self, kind: PiiKind) -> PiiAction {
        self.actions[kind.index()]
    }

    /// All PII in `text`, non-overlapping, sorted by position.
    pub fn find(&self, text: &str) -> Vec<Hit> {
        let mut hits: Vec<Hit> = Vec::new();
        let add = |hits: &mut Vec<Hit>, kind, start, end| {
            if !hits.iter().any(|h| start < h.end && h.start < end) {
                hits.push(Hit { kind, start, end });
            }
        };
        for m in self.url_credentials.find_iter(text) {
            add(&mut hits, PiiKind::UrlCredentials, m.start(), m.end());
        }
        for r in &self.secrets {
            for m in r.find_iter(text) {
                add(&mut hits, PiiKind::Secret, m.start(), m.end());
            }
        }
        for c in self.secret_assignment.captures_iter(text) {
            if let Some(v) = c.get(1) {
                add(&mut hits, PiiKind::Secret, v.start(), v.end());
            }
        }
        for m in self.email.find_iter(text) {
            add(&mut hits, PiiKind::Email, m.start(), m.end());
        }
        for m in self.iban.find_iter(text) {
            if iban_valid(m.as_str()) {
                add(&mut hits, PiiKind::Iban, m.start(), m.end());
            }
        }
        for m in self.card.find_iter(text) {
            let digits: Vec<u8> = m.as_str().bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
            if (13..=19).contains(&digits.len()) && (2..=6).contains(&digits[0]) && luhn_valid(&digits) {
                add(&mut hits, PiiKind::CreditCard, m.start(), m.end());
            }
        }
        for c in self.ssn.captures_iter(text) {
            let (Some(all), Some(area), Some(group), Some(serial)) = (c.get(0), c.get(1), c.get(2), c.get(3)) else {
                continue;
            };
            let area = area.as_str();
            if area != "000" && area != "666" && !area.starts_with('9') && group.as_str() != "00" && serial.as_str() != "0000" {
                add(&mut hits, PiiKind::NationalId, all.start(), all.end());
            }
        }
        for m in self.nino.find_iter(text) {
            add(&mut hits, PiiKind::NationalId, m.start(), m.end());
        }
        for m in self.ipv6.find_iter(text) {
            let s = m.as_str();
            let groups = s.split(':').filter(|g| !g.is_empty()).count();
            if groups >= 3 && s.parse::<Ipv6Addr>().is_ok() && isolated(text, m.start(), m.end(), |c| c.is_ascii_hexdigit() || c == ':') {
                add(&mut hits, PiiKind::IpAddress, m.start(), m.end());
            }
        }
        for m in self.ipv4.find_iter(text) {
            if m.as_str().parse::<Ipv4Addr>().is_ok() && !dotted_continues(text, m.start(), m.end()) {
                add(&mut hits, PiiKind::IpAddress, m.start(), m.end());
            }
        }
        for r in &self.phone {
            for m in r.find_iter(text) {
                let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
                if (8..=15).contains(&digits) && !digit_groups_continue(text, m.start(), m.end()) {
                    add(&mut hits, PiiKind::Phone, m.start(), m.end());
                }
            }
        }
        hits.sort_by_key(|h| h.start);
        hits
    }
}

/// Replaces the hits whose action is `Redact` with their placeholders.
pub fn redact(text: &str, hits: &[Hit], detector: &PiiDetector) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for h in hits {
        if detector.action(h.kind) != PiiAction::Redact {
            continue;
        }
        out.push_str(&text[pos..h.start]);
        out.push_str(h.kind.placeholder());
        pos = h.end;
    }
    out.push_str(&text[pos..]);
    out
}

/// No character matching `part` directly before `start` or after `end`.
fn isolated(text: &str, start: usize, end: usize, part: impl Fn(char) -> bool) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(&part) && !after.is_some_and(&part)
}

/// `1.2.3.4.5` or `v1.2.3.4`-like: the match is part of a longer dotted number.
fn dotted_continues(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let before = start >= 2 && b[start - 1] == b'.' && b[start - 2].is_ascii_digit();
    let after = end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit();
    before || after
}

/// Another digit group joined by one separator on either side (e.g. a 16-digit number that
/// failed Luhn must not become a phone number by its first 12 digits).
fn digit_groups_continue(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let sep = |c: u8| c == b' ' || c == b'-' || c == b'.';
    let before = start >= 1
        && (b[start - 1].is_ascii_digit() || (start >= 2 && sep(b[start - 1]) && b[start - 2].is_ascii_digit()));
    let after = end < b.len()
        && (b[end].is_ascii_digit() || (end + 1 < b.len() && sep(b[end]) && b[end + 1].is_ascii_digit()));
    before || after
}

/// Luhn checksum over digits (most significant first).
pub fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// ISO 13616 IBAN check: move the first four characters to the end, letters → 10..35, the
/// number mod 97 must be 1.
pub fn iban_valid(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in compact[4..].iter().chain(&compact[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn detector() -> PiiDetector {
        PiiDetector::new(&Pii { default_action: PiiAction::Redact, actions: BTreeMap::new() }).expect("builds")
    }

    fn redacted(text: &str) -> String {
        let d = detector();
        redact(text, &d.find(text), &d)
    }

    #[test]
    fn luhn_and_iban_checksums_match_known_values() {
        let digits = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn_valid(&digits("4111111111111111")));
        assert!(!luhn_valid(&digits("4111111111111112")));
        assert!(luhn_valid(&digits("79927398713")));
        assert!(iban_valid("GB82 WEST 1234 5698 7654 32"));
        assert!(iban_valid("DE89370400440532013000"));
        assert!(!iban_valid("GB82 WEST 1234 5698 7654 33"));
    }

    #[test]
    fn each_pii_type_gets_its_placeholder() {
        let cases = [
            ("mail jane.doe@example.com now", "mail <EMAIL> now"),
            ("call +44 20 7946 0958 today", "call <PHONE> today"),
            ("call (555) 123-4567 today", "call <PHONE> today"),
            ("host 192.168.1.20 up", "host <IP_ADDRESS> up"),
            ("host 2001:db8:85a3::8a2e:370:7334 up", "host <IP_ADDRESS> up"),
            ("card 4111 1111 1111 1111 ok", "card <CREDIT_CARD> ok"),
            ("iban GB82 WEST 1234 5698 7654 32 ok", "iban <IBAN> ok"),
            ("ssn 123-45-6789 ok", "ssn <NATIONAL_ID> ok"),
            ("nino AB 12 34 56 C ok", "nino <NATIONAL_ID> ok"),
            ("key AKIAIOSFODNN7EXAMPLE ok", "key <SECRET> ok"),
            ("password: hunter2hunter2 ok", "password: <SECRET> ok"),
            ("db postgres://admin:s3cret@db.example.com:5432/app ok", "db <URL_WITH_CREDENTIALS> ok"),
        ];
        for (input, want) in cases {
            assert_eq!(redacted(input), want, "input {input:?}");
        }
    }

    #[test]
    fn look_alikes_are_not_redacted() {
        for text in [
            "order 4111 1111 1111 1112 shipped",   // fails Luhn
            "iban GB82 WEST 1234 5698 7654 33 no", // fails mod-97
            "version 1.2.3.4.5 released",          // dotted version
            "octet 999.10.10.10 is not an ip",     // not an IPv4
            "use std::vector and a::b::c",         // C++ scopes
            "meeting 2024-01-15 at 12:30:45",      // dates and times
            "ssn-like 000-12-3456 is invalid",     // invalid SSN area
            "plain url https://example.com/a@b",   // no credentials
        ] {
            assert_eq!(redacted(text), text, "look-alike was redacted");
        }
    }

    #[test]
    fn drop_action_leaves_text_for_the_caller_to_reject() {
        let mut actions = BTreeMap::new();
        actions.insert("email".to_string(), PiiAction::Drop);
        let d = PiiDetector::new(&Pii { default_action: PiiAction::Redact, actions }).expect("builds");
        let t = "a@b.co and 192.168.0.1";
        let hits = d.find(t);
        assert_eq!(hits.len(), 2);
        assert_eq!(d.action(hits[0].kind), PiiAction::Drop);
        assert_eq!(redact(t, &hits, &d), "a@b.co and <IP_ADDRESS>");
    }
}
