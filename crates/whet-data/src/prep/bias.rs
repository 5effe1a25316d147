//! Bias audit: how often each configured group of demographic terms is mentioned, per split,
//! so that imbalance is visible in the report. It counts; it does not judge or filter.
//!
//! Terms match as whole words, case-insensitively (see `terms.rs`). The report gives, per group
//! and split, the number of mentions and of records with at least one mention, and each group's
//! share of all mentions in the split.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::config::Bias;
use super::terms::TermMatcher;
use crate::{Error, Result};

pub struct BiasAudit {
    pub groups: Vec<String>,
    matcher: TermMatcher,
}

/// Mentions and records-with-a-mention of one group in one split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCount {
    pub mentions: u64,
    pub records: u64,
}

impl BiasAudit {
    pub fn new(cfg: &Bias) -> Result<Self> {
        let matcher = TermMatcher::new(&cfg.groups.iter().map(|g| g.terms.clone()).collect::<Vec<_>>()).map_err(|message| {
            Error::Config { path: "config".into(), location: String::new(), key: "bias.groups".into(), message }
        })?;
        Ok(BiasAudit { groups: cfg.groups.iter().map(|g| g.name.clone()).collect(), matcher })
    }

    /// Mentions per group in one record's text.
    pub fn count(&self, text: &str) -> Vec<u32> {
        self.matcher.counts(&text.to_lowercase(), self.groups.len())
    }

    /// Adds one record's counts to a split's table.
    pub fn add(&self, table: &mut BTreeMap<String, GroupCount>, counts: &[u32]) {
        for (g, c) in self.groups.iter().zip(counts) {
            let e = table.entry(g.clone()).or_default();
            e.mentions += u64::from(*c);
            e.records += u64::from(*c > 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prep::config::BiasGroup;

    #[test]
    fn mentions_and_records_are_counted_per_group() {
        let audit = BiasAudit::new(&Bias {
            groups: vec![
                BiasGroup { name: "female".into(), terms: vec!["she".into(), "woman".into()] },
                BiasGroup { name: "male".into(), terms: vec!["he".into(), "man".into()] },
            ],
        })
        .expect("builds");
        let mut table = BTreeMap::new();
        audit.add(&mut table, &audit.count("She said the woman left."));
        audit.add(&mut table, &audit.count("The weather is fine."));
        assert_eq!(table["female"], GroupCount { mentions: 2, records: 1 });
        assert_eq!(table["male"], GroupCount { mentions: 0, records: 0 });
    }
}
