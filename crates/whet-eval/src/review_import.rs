//! `whet review import`: reviewers' labels (the JSONL files the review page downloads) read back
//! against the review set's key, unblinded, and summed up:
//!
//! - **Win rates.** Each item's verdict is its reviewers' majority (more votes for one answer
//!   than for the other; otherwise a tie). Per set and overall, the second variant's win rate
//!   over the first among decided items with a 95% Wilson interval; the difference is called
//!   significant when the interval leaves out 0.5.
//! - **Ratings and hallucination flags** per variant: the mean 1-5 rating with a bootstrap
//!   interval, the share of answers flagged with a Wilson interval.
//! - **Agreement** on the better-answer labels: Cohen's kappa for every two reviewers on the items
//!   both labelled, Fleiss' kappa over the items every reviewer labelled.
//! - **Preference pairs** (`preferences.jsonl`): for each decided item, the prompt with the
//!   winning answer chosen and the other rejected, in TRL's conversational layout, which the DPO
//!   recipe reads (`[dpo] data`).
//! - `labels.jsonl`: every label unblinded (variant names instead of answer positions), with
//!   the reviewers' comments.
//!
//! Every label is checked before anything is written: an unknown item id, labels of another
//! review set, a bad rating or a reviewer labelling an item twice is an error naming the file and
//! line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::agreement::{cohen_kappa, fleiss_kappa, Kappa};
use crate::bootstrap::{bootstrap_mean_ci, BootstrapOptions};
use crate::error::{Error, Result};
use crate::review::{check_output_dir, write, ReviewItem, ReviewKey};
use crate::wilson::wilson_interval;

pub struct ImportOptions {
    /// The directory `whet review export` wrote (with `key.json` and `items.jsonl`).
    pub review_dir: PathBuf,
    /// One or more labels files, one per reviewer or several.
    pub labels: Vec<PathBuf>,
    /// A new (or empty) directory for the report and the preference pairs.
    pub out: PathBuf,
}

/// One line of a labels file, as the review page writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelLine {
    #[serde(default)]
    review: Option<String>,
    id: String,
    reviewer: String,
    #[serde(default)]
    better: Option<String>,
    #[serde(default)]
    ratings: [Option<u8>; 2],
    #[serde(default)]
    hallucination: [bool; 2],
    #[serde(default)]
    comment: String,
}

/// A checked label, unblinded: answer sides are variant indices (0: the key's first variant).
#[derive(Debug, Clone)]
struct Label {
    item: usize,
    reviewer: String,
    /// The raw choice ("1", "2" or "tie"), for agreement.
    better: Option<String>,
    /// The variant judged better; `None` for a tie or no choice.
    winner: Option<usize>,
    /// Per variant (not per answer position).
    ratings: [Option<u8>; 2],
    hallucination: [bool; 2],
    comment: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewReport {
    pub review_id: String,
    pub variants: [String; 2],
    pub reviewers: Vec<String>,
    pub labels: usize,
    pub items: usize,
    pub items_labelled: usize,
    /// Per set, then `"all"`.
    pub win_rates: Vec<WinRate>,
    pub ratings: Vec<VariantRatings>,
    pub agreement: Agreement,
    pub preference_pairs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct WinRate {
    pub set: String,
    /// Items whose reviewers preferred the first / the second variant, and ties (or split votes).
    pub wins: [usize; 2],
    pub ties: usize,
    /// The second variant's share of the decided items, with its 95% Wilson interval.
    pub second_win_rate: Option<f64>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// The interval leaves out 0.5.
    pub significant: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantRatings {
    pub variant: String,
    pub rated: usize,
    pub mean_rating: Option<[f64; 3]>,
    pub hallucination_flags: usize,
    /// Flags per labelled answer, with a 95% Wilson interval.
    pub hallucination_rate: Option<[f64; 3]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    /// Every two reviewers who labelled items in common.
    pub pairs: Vec<PairAgreement>,
    /// Over the items every reviewer labelled (two reviewers or more).
    pub fleiss: Option<Kappa>,
    pub fleiss_items: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PairAgreement {
    pub reviewers: [String; 2],
    pub items: usize,
    pub cohen: Option<Kappa>,
}

pub fn import(opts: &ImportOptions) -> Result<ReviewReport> {
    let key_path = opts.review_dir.join("key.json");
    let key: ReviewKey = read_json(&key_path, "the key `whet review export` wrote")?;
    let items_path = opts.review_dir.join("items.jsonl");
    let items: Vec<ReviewItem> = std::fs::read_to_string(&items_path)
        .map_err(|source| Error::Io { path: items_path.clone(), source })?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| Error::Malformed { path: items_path.clone(), line: i + 1, message: format!("not a review item ({e})") }))
        .collect::<Result<_>>()?;
    if items.len() != key.items.len() || items.iter().zip(&key.items).any(|(i, k)| i.id != k.id) {
        return Err(Error::Config { path: opts.review_dir.clone(), message: "items.jsonl and key.json list different items; export the review set again".into() });
    }
    if opts.labels.is_empty() {
        return Err(Error::Config { path: opts.review_dir.clone(), message: "no labels files given; pass the files reviewers downloaded".into() });
    }
    let labels = read_labels(&opts.labels, &key)?;
    check_output_dir(&opts.out)?;

    let reviewers: Vec<String> = labels.iter().map(|l| l.reviewer.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let by_item = group(&labels, items.len());
    let verdicts: Vec<Option<Verdict>> = by_item.iter().map(|ls| verdict(ls)).collect();

    let mut win_rates = Vec::new();
    let sets: Vec<String> = key.items.iter().map(|k| k.set.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    for set in sets.iter().map(Some).chain([None]) {
        let in_set = |i: usize| set.is_none_or(|s| &key.items[i].set == s);
        win_rates.push(win_rate(set.cloned().unwrap_or_else(|| "all".into()), (0..items.len()).filter(|&i| in_set(i)).filter_map(|i| verdicts[i])));
    }
    let ratings = (0..2).map(|v| variant_ratings(&key.variants[v], v, &labels)).collect::<Result<_>>()?;
    let agreement = agreement(&reviewers, &by_item);

    let mut pairs = String::new();
    for (i, v) in verdicts.iter().enumerate() {
        let Some(Verdict::Win { winner, votes }) = v else { continue };
        let (item, entry) = (&items[i], &key.items[i]);
        let answer_of = |variant: usize| &item.answers[entry.order.iter().position(|o| *o == key.variants[variant]).expect("key order names both variants")];
        let row = json!({
            "prompt": item.prompt,
            "chosen": [{"role": "assistant", "content": answer_of(*winner)}],
            "rejected": [{"role": "assistant", "content": answer_of(1 - winner)}],
            "provenance": {"review": key.review_id, "id": item.id, "set": item.set, "line": entry.line,
                           "chosen_by": key.variants[*winner], "rejected_by": key.variants[1 - winner], "votes": votes},
        });
        writeln!(pairs, "{row}").expect("writing to a string");
    }

    // Every label, unblinded, so that each number above can be traced to the labels behind it.
    let mut unblinded = String::new();
    for l in &labels {
        let v = &key.variants;
        let row = json!({
            "id": key.items[l.item].id, "set": key.items[l.item].set, "reviewer": l.reviewer,
            "better": l.winner.map(|w| v[w].clone()).or_else(|| l.better.clone()),
            "ratings": {&v[0]: l.ratings[0], &v[1]: l.ratings[1]},
            "hallucination": {&v[0]: l.hallucination[0], &v[1]: l.hallucination[1]},
            "comment": l.comment,
        });
        writeln!(unblinded, "{row}").expect("writing to a string");
    }

    let report = ReviewReport {
        review_id: key.review_id.clone(),
        variants: key.variants.clone(),
        reviewers,
        labels: labels.len(),
        items: items.len(),
        items_labelled: by_item.iter().filter(|l| !l.is_empty()).count(),
        preference_pairs: pairs.lines().count(),
        win_rates,
        ratings,
        agreement,
    };
    std::fs::create_dir_all(&opts.out).map_err(|source| Error::Io { path: opts.out.clone(), source })?;
    write(&opts.out.join("preferences.jsonl"), &pairs)?;
    write(&opts.out.join("labels.jsonl"), &unblinded)?;
    write(&opts.out.join("review-report.json"), &(serde_json::to_string_pretty(&report).expect("serialisable") + "\n"))?;
    write(&opts.out.join("review-report.md"), &report.markdown())?;
    Ok(report)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|e| Error::Config { path: path.to_path_buf(), message: format!("not {what} ({e})") })
}

/// Reads and checks every labels file; unblinds each label with the key.
fn read_labels(files: &[PathBuf], key: &ReviewKey) -> Result<Vec<Label>> {
    let index: BTreeMap<&str, usize> = key.items.iter().enumerate().map(|(i, k)| (k.id.as_str(), i)).collect();
    let mut seen: BTreeMap<(String, usize), String> = BTreeMap::new();
    let mut labels = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.clone(), source })?;
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let bad = |message: String| Error::Malformed { path: path.clone(), line: n + 1, message };
            let l: LabelLine = serde_json::from_str(line).map_err(|e| bad(format!("not a label ({e}); labels are the lines the review page downloads")))?;
            if let Some(r) = &l.review {
                if *r != key.review_id {
                    return Err(bad(format!("a label of review set {r}, but this review set is {}; import labels with the review directory they came from", key.review_id)));
                }
            }
            let Some(&item) = index.get(l.id.as_str()) else {
                let some: Vec<&str> = key.items.iter().take(3).map(|k| k.id.as_str()).collect();
                return Err(bad(format!("unknown item id `{}`; this review set's ids are like {}", l.id, some.join(", "))));
            };
            let reviewer = l.reviewer.trim().to_string();
            if reviewer.is_empty() {
                return Err(bad("`reviewer` is empty; every label needs the reviewer's name".into()));
            }
            if let Some(r) = l.ratings.iter().flatten().find(|r| !(1..=5).contains(*r)) {
                return Err(bad(format!("rating {r} is out of range; ratings are 1 to 5 (or null)")));
            }
            let order = &key.items[item].order;
            let variant_at = |side: usize| key.variants.iter().position(|v| *v == order[side]).expect("key order names both variants");
            let winner = match l.better.as_deref() {
                None | Some("tie") => None,
                Some("1") => Some(variant_at(0)),
                Some("2") => Some(variant_at(1)),
                Some(other) => return Err(bad(format!("`better` is \"{other}\"; it must be \"1\", \"2\", \"tie\" or null"))),
            };
            let here = format!("{}:{}", path.display(), n + 1);
            if let Some(first) = seen.insert((reviewer.clone(), item), here) {
                return Err(bad(format!("{reviewer} labelled item `{}` already (at {first}); import each reviewer's latest labels file once", l.id)));
            }
            let (mut ratings, mut hallucination) = ([None; 2], [false; 2]);
            for side in 0..2 {
                ratings[variant_at(side)] = l.ratings[side];
                hallucination[variant_at(side)] = l.hallucination[side];
            }
            labels.push(Label { item, reviewer, better: l.better, winner, ratings, hallucination, comment: l.comment });
        }
    }
    if labels.is_empty() {
        return Err(Error::Config { path: files[0].clone(), message: "no labels in the given files; label some items on the review page and download again".into() });
    }
    Ok(labels)
}

fn group(labels: &[Label], items: usize) -> Vec<Vec<&Label>> {
    let mut by_item = vec![Vec::new(); items];
    for l in labels {
        by_item[l.item].push(l);
    }
    by_item
}

#[derive(Debug, Clone, Copy)]
enum Verdict {
    /// `votes`: decisive votes for the winner and for the other.
    Win { winner: usize, votes: [usize; 2] },
    Tie,
}

/// The majority of an item's better-answer votes; `None` when nobody picked.
fn verdict(labels: &[&Label]) -> Option<Verdict> {
    if labels.iter().all(|l| l.better.is_none()) {
        return None;
    }
    let mut votes = [0usize; 2];
    for w in labels.iter().filter_map(|l| l.winner) {
        votes[w] += 1;
    }
    Some(match votes[0].cmp(&votes[1]) {
        std::cmp::Ordering::Greater => Verdict::Win { winner: 0, votes },
        std::cmp::Ordering::Less => Verdict::Win { winner: 1, votes: [votes[1], votes[0]] },
        std::cmp::Ordering::Equal => Verdict::Tie,
    })
}

fn win_rate(set: String, verdicts: impl Iterator<Item = Verdict>) -> WinRate {
    let (mut wins, mut ties) = ([0usize; 2], 0);
    for v in verdicts {
        match v {
            Verdict::Win { winner, .. } => wins[winner] += 1,
            Verdict::Tie => ties += 1,
        }
    }
    let decided = wins[0] + wins[1];
    let (rate, lower, upper) = if decided == 0 {
        (None, None, None)
    } else {
        let (lo, hi) = wilson_interval(wins[1], decided, Z95);
        (Some(wins[1] as f64 / decided as f64), Some(lo), Some(hi))
    };
    let significant = matches!((lower, upper), (Some(lo), Some(hi)) if lo > 0.5 || hi < 0.5);
    WinRate { set, wins, ties, second_win_rate: rate, lower, upper, significant }
}

/// The normal quantile of a two-sided 95% interval.
const Z95: f64 = 1.959963984540054;

fn variant_ratings(name: &str, v: usize, labels: &[Label]) -> Result<VariantRatings> {
    let ratings: Vec<f64> = labels.iter().filter_map(|l| l.ratings[v]).map(f64::from).collect();
    let mean_rating = if ratings.is_empty() {
        None
    } else {
        let ci = bootstrap_mean_ci(&ratings, &BootstrapOptions::default())?;
        Some([ci.mean, ci.lower, ci.upper])
    };
    let flags = labels.iter().filter(|l| l.hallucination[v]).count();
    let hallucination_rate = (!labels.is_empty()).then(|| {
        let (lo, hi) = wilson_interval(flags, labels.len(), Z95);
        [flags as f64 / labels.len() as f64, lo, hi]
    });
    Ok(VariantRatings { variant: name.to_string(), rated: ratings.len(), mean_rating, hallucination_flags: flags, hallucination_rate })
}

fn agreement(reviewers: &[String], by_item: &[Vec<&Label>]) -> Agreement {
    let choice = |ls: &[&Label], r: &str| ls.iter().find(|l| l.reviewer == r).and_then(|l| l.better.clone());
    let mut pairs = Vec::new();
    for (i, a) in reviewers.iter().enumerate() {
        for b in &reviewers[i + 1..] {
            let shared: Vec<(String, String)> = by_item.iter().filter_map(|ls| choice(ls, a).zip(choice(ls, b))).collect();
            if !shared.is_empty() {
                pairs.push(PairAgreement { reviewers: [a.clone(), b.clone()], items: shared.len(), cohen: cohen_kappa(&shared) });
            }
        }
    }
    let all: Vec<Vec<String>> = by_item
        .iter()
        .filter_map(|ls| reviewers.iter().map(|r| choice(ls, r)).collect::<Option<Vec<_>>>())
        .collect();
    let fleiss = if reviewers.len() >= 2 { fleiss_kappa(&all) } else { None };
    Agreement { pairs, fleiss, fleiss_items: if reviewers.len() >= 2 { all.len() } else { 0 } }
}

impl ReviewReport {
    /// The report as Markdown: win rates, ratings, agreement.
    pub fn markdown(&self) -> String {
        let [a, b] = &self.variants;
        let mut md = format!(
            "# Human review: {b} vs {a}\n\nReview set {}: {} items, {} labelled by {} reviewer(s) ({}), {} labels. \
             Each item's verdict is its reviewers' majority.\n\n",
            self.review_id,
            self.items,
            self.items_labelled,
            self.reviewers.len(),
            self.reviewers.join(", "),
            self.labels
        );
        let _ = writeln!(md, "## Win rate\n\n| set | {b} wins | {a} wins | ties | {b} win rate (95% CI) | |\n|---|---|---|---|---|---|");
        for w in &self.win_rates {
            let rate = match (w.second_win_rate, w.lower, w.upper) {
                (Some(r), Some(lo), Some(hi)) => format!("{r:.2} [{lo:.2}, {hi:.2}]"),
                _ => "-".into(),
            };
            let sig = if w.second_win_rate.is_none() { "" } else if w.significant { "significant" } else { "not significant" };
            let _ = writeln!(md, "| {} | {} | {} | {} | {rate} | {sig} |", w.set, w.wins[1], w.wins[0], w.ties);
        }
        let _ = writeln!(md, "\n## Ratings and hallucinations\n\n| variant | mean rating 1-5 (95% CI) | answers flagged as hallucinations (95% CI) |\n|---|---|---|");
        for r in &self.ratings {
            let mean = r.mean_rating.map_or("-".into(), |[m, lo, hi]| format!("{m:.2} [{lo:.2}, {hi:.2}] of {}", r.rated));
            let flags = r.hallucination_rate.map_or("-".into(), |[p, lo, hi]| format!("{} = {p:.2} [{lo:.2}, {hi:.2}]", r.hallucination_flags));
            let _ = writeln!(md, "| {} | {mean} | {flags} |", r.variant);
        }
        let _ = writeln!(md, "\n## Agreement on the better answer\n");
        if self.agreement.pairs.is_empty() {
            let _ = writeln!(md, "No two reviewers labelled the same item.");
        }
        for p in &self.agreement.pairs {
            let k = p.cohen.map_or("undefined (one label used throughout)".into(), |k| format!("{:.3} (observed agreement {:.2})", k.kappa, k.observed));
            let _ = writeln!(md, "- Cohen's kappa, {} and {}, {} items: {k}", p.reviewers[0], p.reviewers[1], p.items);
        }
        if let Some(k) = self.agreement.fleiss {
            let _ = writeln!(md, "- Fleiss' kappa, all {} reviewers, {} items: {:.3}", self.reviewers.len(), self.agreement.fleiss_items, k.kappa);
        }
        let _ = writeln!(md, "\n{} preference pairs written to preferences.jsonl (ties and split votes left out).", self.preference_pairs);
        md
    }
}
