//! Inter-reviewer agreement on categorical labels: Cohen's kappa for two reviewers on the items
//! both labelled, Fleiss' kappa for any number of reviewers who each labelled the same items.
//! Both are chance-corrected: 1 is perfect agreement, 0 what independent reviewers with the same
//! label frequencies would reach, below 0 worse than that. Checked against statsmodels 0.15.0
//! (`cohens_kappa`, `fleiss_kappa(method="fleiss")`) on the goldens of
//! `reference/make_agreement_goldens.py`.
//!
//! Twenty lines of arithmetic each; no maintained Rust crate offers them.

use std::collections::BTreeMap;
use std::hash::Hash;

/// Cohen's kappa of two reviewers' labels on the same items (`pairs[i] = (a's label, b's
/// label)`), with the observed share of agreement. `None` for no items, or when chance agreement
/// is already perfect (both reviewers used one and the same label throughout: kappa is 0/0).
pub fn cohen_kappa<L: Eq + Hash + Ord + Clone>(pairs: &[(L, L)]) -> Option<Kappa> {
    let n = pairs.len() as f64;
    if pairs.is_empty() {
        return None;
    }
    let observed = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n;
    let (mut row, mut col) = (BTreeMap::<L, f64>::new(), BTreeMap::<L, f64>::new());
    for (a, b) in pairs {
        *row.entry(a.clone()).or_default() += 1.0;
        *col.entry(b.clone()).or_default() += 1.0;
    }
    let chance: f64 = row.iter().map(|(label, r)| r / n * col.get(label).copied().unwrap_or(0.0) / n).sum();
    kappa(observed, chance)
}

/// Fleiss' kappa of items each labelled by the same number (at least 2) of reviewers:
/// `items[i]` holds item i's labels. `None` when there are no items, the counts differ, an
/// item has fewer than 2 labels, or chance agreement is perfect (one label used throughout).
pub fn fleiss_kappa<L: Eq + Hash + Ord + Clone>(items: &[Vec<L>]) -> Option<Kappa> {
    let raters = items.first()?.len();
    if raters < 2 || items.iter().any(|labels| labels.len() != raters) {
        return None;
    }
    let (n_items, r) = (items.len() as f64, raters as f64);
    let mut totals = BTreeMap::<L, f64>::new();
    let mut agreement = 0.0;
    for labels in items {
        let mut counts = BTreeMap::<&L, f64>::new();
        for l in labels {
            *counts.entry(l).or_default() += 1.0;
            *totals.entry(l.clone()).or_default() += 1.0;
        }
        // The share of agreeing reviewer pairs on this item.
        agreement += (counts.values().map(|c| c * c).sum::<f64>() - r) / (r * (r - 1.0));
    }
    let observed = agreement / n_items;
    let chance: f64 = totals.values().map(|t| (t / (n_items * r)).powi(2)).sum();
    kappa(observed, chance)
}

/// A kappa with the agreement it corrects.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Kappa {
    pub kappa: f64,
    /// Observed agreement: the share of items (Cohen) or of reviewer pairs per item (Fleiss)
    /// that agree.
    pub observed: f64,
    /// The agreement expected by chance from the label frequencies.
    pub chance: f64,
}

fn kappa(observed: f64, chance: f64) -> Option<Kappa> {
    // Chance agreement of 1 leaves nothing to correct for: kappa is undefined.
    (chance < 1.0 - 1e-12).then(|| Kappa { kappa: (observed - chance) / (1.0 - chance), observed, chance })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_cases_are_none_rather_than_nan() {
        assert!(cohen_kappa::<&str>(&[]).is_none());
        assert!(cohen_kappa(&[("1", "1"), ("1", "1")]).is_none());
        assert!(fleiss_kappa(&[vec!["1", "1"], vec!["1", "1"]]).is_none());
        assert!(fleiss_kappa(&[vec!["1", "2"], vec!["1"]]).is_none(), "unequal reviewer counts");
        assert!(fleiss_kappa(&[vec!["1"], vec!["2"]]).is_none(), "one reviewer");
    }

    #[test]
    fn two_reviewers_who_swap_labels_disagree_completely() {
        let k = cohen_kappa(&[("1", "2"), ("2", "1"), ("1", "2"), ("2", "1")]).unwrap();
        assert_eq!((k.kappa, k.observed, k.chance), (-1.0, 0.0, 0.5));
    }
}
