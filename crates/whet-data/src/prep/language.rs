//! Language identification with `whatlang` (trigram models, 69 languages): keep records whose
//! detected language is listed and whose confidence reaches the threshold.
//!
//! Detection reads the first 2,000 characters of the record's text (enough for a stable
//! answer, and it bounds the cost on long documents). whatlang's confidence is low on short
//! texts (a few words), so a short record in a kept language can fail the threshold: lower
//! `min_confidence` for chat data with short turns. Codes are ISO 639-3 (`eng`, `deu`, `cmn`).

use whatlang::Lang;

use super::config::Language;

pub struct LanguageFilter {
    keep: Vec<Lang>,
    min_confidence: f64,
}

/// The detection result for one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    pub code: Option<&'static str>,
    pub confidence: f64,
}

impl LanguageFilter {
    /// Codes were checked by config validation; unknown ones are skipped here.
    pub fn new(cfg: &Language) -> Self {
        LanguageFilter {
            keep: cfg.keep.iter().filter_map(|c| Lang::from_code(c.as_str())).collect(),
            min_confidence: cfg.min_confidence,
        }
    }

    pub fn detect(text: &str) -> Detected {
        let end = text.char_indices().nth(2000).map_or(text.len(), |(i, _)| i);
        match whatlang::detect(&text[..end]) {
            Some(info) => Detected {
                code: Some(info.lang().code()),
                confidence: info.confidence(),
            },
            None => Detected {
                code: None,
                confidence: 0.0,
            },
        }
    }

    /// `Err(reason)` when the record must go.
    pub fn check(&self, d: &Detected) -> Result<(), String> {
        let Some(code) = d.code else {
            return Err("no language detected".into());
        };
        if !self.keep.iter().any(|l| l.code() == code) {
            return Err(format!(
                "language {code} (confidence {:.2}) is not in keep [{}]",
                d.confidence,
                self.keep.iter().map(|l| l.code()).collect::<Vec<_>>().join(", ")
            ));
        }
        if d.confidence < self.min_confidence {
            return Err(format!("language {code} confidence {:.2} < min_confidence {}", d.confidence, self.min_confidence));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_is_kept_and_german_is_dropped() {
        let f = LanguageFilter::new(&Language { keep: vec!["eng".into()], min_confidence: 0.5 });
        let en = LanguageFilter::detect("The committee published its annual report on the state of public transport in the region yesterday.");
        assert_eq!(en.code, Some("eng"));
        assert!(f.check(&en).is_ok());
        let de = LanguageFilter::detect("Der Ausschuss hat gestern seinen Jahresbericht über den Zustand des öffentlichen Verkehrs veröffentlicht.");
        assert_eq!(de.code, Some("deu"));
        assert!(f.check(&de).expect_err("german").contains("deu"));
    }
}
