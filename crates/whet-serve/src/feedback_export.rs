//! Feedback back into training (`whet feedback export`): the feedback database read back and
//! turned into an SFT set, preference pairs and per-variant tallies for the A/B report.
//!
//! A response's feedback is its latest `rating` and its latest `preferred` (each from the latest
//! feedback row that gave it). Its verdict is *good* when its rating is at least `min_rating`, or,
//! without a rating, when it was `preferred: true`; *bad* otherwise. The rating decides when
//! both are given.
//!
//! - SFT examples: good chat answers that ended on their own (`finish_reason` `stop`; an answer
//!   cut at `max_tokens` is no example to imitate), written as OpenAI `messages` with the answer
//!   as the last, assistant, turn, the layout the SFT recipe reads.
//! - Preference pairs: answers to the same prompt (same endpoint, same messages or prompt text)
//!   ordered best first by verdict, then rating; the best is paired with the worst, the second
//!   best with the second worst, and so on, while the first is strictly better (a better verdict,
//!   or the same verdict and a higher rating; identical texts are skipped). Chats are written in
//!   TRL's conversational layout (`prompt` messages, one-message `chosen` and `rejected`),
//!   completions with a text prompt as plain strings; both are layouts `whet_data::read_pairs`
//!   and the DPO recipe read. Each record has a `feedback` object saying which responses, which
//!   variants and which ratings it came from.
//! - Tallies per route and variant: responses served, responses with feedback, the mean rating
//!   over rated ones, wins (good verdicts) among responses with feedback, and head-to-head wins
//!   and losses in the preference pairs between different variants. Intervals are the caller's
//!   (`whet-eval`'s Wilson interval in the CLI: this crate does not depend on `whet-eval`).

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::feedback_store::SCHEMA_VERSION;

/// A stored response with feedback.
#[derive(Debug, Clone, PartialEq)]
pub struct RatedAnswer {
    pub id: String,
    pub created: f64,
    /// `chat` or `completion`.
    pub endpoint: String,
    pub route: Option<String>,
    pub variant: String,
    pub adapter_version: Option<String>,
    /// The chat messages (`[{role, content}]`) or the completion prompt as sent.
    pub prompt: Value,
    pub response: String,
    pub finish_reason: Option<String>,
    pub rating: Option<u8>,
    pub preferred: Option<bool>,
    pub comment: Option<String>,
}

impl RatedAnswer {
    fn good(&self, min_rating: u8) -> bool {
        match self.rating {
            Some(r) => r >= min_rating,
            None => self.preferred == Some(true),
        }
    }

    /// Sort key, best first: verdict, then rating.
    fn rank(&self, min_rating: u8) -> (bool, u8) {
        (self.good(min_rating), self.rating.unwrap_or(0))
    }

    /// Strictly better than `other`: a better verdict, or the same one and both rated higher.
    fn better_than(&self, other: &RatedAnswer, min_rating: u8) -> bool {
        let (a, b) = (self.good(min_rating), other.good(min_rating));
        a && !b || (a == b && matches!((self.rating, other.rating), (Some(x), Some(y)) if x > y))
    }

    fn summary(&self) -> Value {
        json!({"response_id": self.id, "route": self.route, "variant": self.variant,
               "adapter_version": self.adapter_version, "rating": self.rating,
               "preferred": self.preferred})
    }
}

/// Responses served per route and variant (with or without feedback).
pub type Served = BTreeMap<(Option<String>, String), usize>;

/// Opens the database read-only, checking that it is a whet feedback database.
fn open_read_only(db: &Path) -> Result<Connection> {
    let fail = |message: String| Error::FeedbackDb {
        path: db.to_path_buf(),
        message,
    };
    if !db.is_file() {
        return Err(fail(
            "no such file; give the `feedback_db` of the server's config".into(),
        ));
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| fail(format!("cannot open it: {e}")))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| fail(format!("not an SQLite database: {e}")))?;
    if version != SCHEMA_VERSION {
        return Err(fail(format!(
            "schema version {version}, not a whet feedback database of version {SCHEMA_VERSION}"
        )));
    }
    Ok(conn)
}

/// Every response with feedback, oldest first, and the number of responses served per route
/// and variant.
pub fn read_rated(db: &Path) -> Result<(Vec<RatedAnswer>, Served)> {
    let conn = open_read_only(db)?;
    let fail = |e: rusqlite::Error| Error::FeedbackDb {
        path: db.to_path_buf(),
        message: format!("reading it: {e}"),
    };
    let latest = |column: &str| {
        format!("(SELECT {column} FROM feedback f WHERE f.response_id = r.id AND f.{column} IS NOT NULL ORDER BY f.id DESC LIMIT 1)")
    };
    let sql = format!(
        "SELECT r.id, r.created, r.endpoint, r.route, r.variant, r.adapter_version, r.prompt, r.response, r.finish_reason, {}, {}, {}
         FROM responses r WHERE EXISTS (SELECT 1 FROM feedback f WHERE f.response_id = r.id)
         ORDER BY r.created, r.id",
        latest("rating"),
        latest("preferred"),
        latest("comment")
    );
    let mut statement = conn.prepare(&sql).map_err(fail)?;
    let rows = statement
        .query_map([], |row| {
            let prompt: String = row.get(6)?;
            Ok(RatedAnswer {
                id: row.get(0)?,
                created: row.get(1)?,
                endpoint: row.get(2)?,
                route: row.get(3)?,
                variant: row.get(4)?,
                adapter_version: row.get(5)?,
                prompt: serde_json::from_str(&prompt).unwrap_or(Value::String(prompt)),
                response: row.get(7)?,
                finish_reason: row.get(8)?,
                rating: row
                    .get::<_, Option<i64>>(9)?
                    .and_then(|r| u8::try_from(r).ok()),
                preferred: row.get(10)?,
                comment: row.get(11)?,
            })
        })
        .map_err(fail)?;
    let answers = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(fail)?;
    let mut statement = conn
        .prepare("SELECT route, variant, COUNT(*) FROM responses GROUP BY route, variant")
        .map_err(fail)?;
    let served = statement
        .query_map([], |row| {
            Ok(((row.get(0)?, row.get(1)?), row.get::<_, i64>(2)? as usize))
        })
        .map_err(fail)?
        .collect::<rusqlite::Result<Served>>()
        .map_err(fail)?;
    Ok((answers, served))
}

/// One route and variant's counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VariantTally {
    pub route: Option<String>,
    pub variant: String,
    pub adapter_versions: Vec<String>,
    /// Responses served (with or without feedback).
    pub responses: usize,
    pub with_feedback: usize,
    pub ratings: usize,
    pub mean_rating: Option<f64>,
    /// Good verdicts among the responses with feedback.
    pub wins: usize,
    /// Head-to-head results in preference pairs against other variants.
    pub pair_wins: usize,
    pub pair_losses: usize,
}

/// What an export holds, ready to write.
#[derive(Debug, Default)]
pub struct Export {
    pub sft: Vec<Value>,
    pub preferences: Vec<Value>,
    pub variants: Vec<VariantTally>,
    /// Good answers left out of the SFT set, and why.
    pub sft_skipped: BTreeMap<&'static str, usize>,
    /// Prompts with answers that could not be paired, and why.
    pub pairs_skipped: BTreeMap<&'static str, usize>,
}

fn assistant(text: &str) -> Value {
    json!({"role": "assistant", "content": text})
}

/// Builds the export of `answers` (as [`read_rated`] returns them).
pub fn build_export(answers: &[RatedAnswer], served: &Served, min_rating: u8) -> Export {
    let mut export = Export::default();
    let mut tallies: BTreeMap<(Option<String>, String), VariantTally> = BTreeMap::new();
    for ((route, variant), &n) in served {
        let t = tallies.entry((route.clone(), variant.clone())).or_default();
        t.responses = n;
    }
    let mut rating_sums: BTreeMap<(Option<String>, String), u64> = BTreeMap::new();
    for a in answers {
        let key = (a.route.clone(), a.variant.clone());
        let t = tallies.entry(key.clone()).or_default();
        t.with_feedback += 1;
        if let Some(r) = a.rating {
            t.ratings += 1;
            *rating_sums.entry(key).or_default() += u64::from(r);
        }
        if a.good(min_rating) {
            t.wins += 1;
        }
        if let Some(v) = &a.adapter_version {
            if !t.adapter_versions.contains(v) {
                t.adapter_versions.push(v.clone());
            }
        }
        if !a.good(min_rating) {
            continue;
        }
        let skip = match (a.endpoint.as_str(), &a.prompt) {
            ("chat", Value::Array(_)) if a.finish_reason.as_deref() != Some("stop") => {
                Some("cut at max_tokens (finish_reason length)")
            }
            ("chat", _) if a.response.trim().is_empty() => Some("empty answer"),
            ("chat", Value::Array(messages)) => {
                let mut messages = messages.clone();
                messages.push(assistant(&a.response));
                export
                    .sft
                    .push(json!({"messages": messages, "feedback": a.summary()}));
                None
            }
            _ => Some("completion (not a conversation)"),
        };
        if let Some(why) = skip {
            *export.sft_skipped.entry(why).or_default() += 1;
        }
    }

    // Preference pairs per prompt, prompts in the order first seen.
    let mut groups: Vec<(String, Vec<&RatedAnswer>)> = Vec::new();
    for a in answers {
        let key = format!("{}\n{}", a.endpoint, a.prompt);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(a),
            None => groups.push((key, vec![a])),
        }
    }
    for (_, mut group) in groups {
        if group.len() < 2 {
            continue;
        }
        // Stable: equal ranks keep their order of arrival.
        group.sort_by_key(|a| std::cmp::Reverse(a.rank(min_rating)));
        let (mut i, mut j) = (0, group.len() - 1);
        let mut paired = false;
        while i < j {
            let (chosen, rejected) = (group[i], group[j]);
            if !chosen.better_than(rejected, min_rating) {
                break;
            }
            if chosen.response.trim() == rejected.response.trim() {
                j -= 1;
                continue;
            }
            let feedback = json!({"chosen": chosen.summary(), "rejected": rejected.summary()});
            let record = match &chosen.prompt {
                Value::Array(messages) => Some(json!({
                    "prompt": messages,
                    "chosen": [assistant(&chosen.response)],
                    "rejected": [assistant(&rejected.response)],
                    "feedback": feedback,
                })),
                Value::String(prompt) if !prompt.trim().is_empty() => Some(json!({
                    "prompt": prompt,
                    "chosen": chosen.response,
                    "rejected": rejected.response,
                    "feedback": feedback,
                })),
                _ => None,
            };
            let Some(record) = record else {
                *export
                    .pairs_skipped
                    .entry("prompt is not text or messages")
                    .or_default() += 1;
                break;
            };
            export.preferences.push(record);
            paired = true;
            if (&chosen.route, &chosen.variant) != (&rejected.route, &rejected.variant) {
                if let Some(t) = tallies.get_mut(&(chosen.route.clone(), chosen.variant.clone())) {
                    t.pair_wins += 1;
                }
                if let Some(t) =
                    tallies.get_mut(&(rejected.route.clone(), rejected.variant.clone()))
                {
                    t.pair_losses += 1;
                }
            }
            i += 1;
            j -= 1;
        }
        if !paired {
            *export
                .pairs_skipped
                .entry("no answer better than another")
                .or_default() += 1;
        }
    }

    for ((route, variant), mut t) in tallies {
        let key = (route.clone(), variant.clone());
        t.mean_rating = rating_sums
            .get(&key)
            .map(|&sum| sum as f64 / t.ratings.max(1) as f64);
        t.route = route;
        t.variant = variant;
        export.variants.push(t);
    }
    export
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(
        id: &str,
        variant: &str,
        response: &str,
        rating: Option<u8>,
        preferred: Option<bool>,
    ) -> RatedAnswer {
        RatedAnswer {
            id: id.into(),
            created: 0.0,
            endpoint: "chat".into(),
            route: Some("bot".into()),
            variant: variant.into(),
            adapter_version: None,
            prompt: json!([{"role": "user", "content": "What is the warranty?"}]),
            response: response.into(),
            finish_reason: Some("stop".into()),
            rating,
            preferred,
            comment: None,
        }
    }

    #[test]
    fn best_pairs_with_worst_and_good_chats_become_sft_examples() {
        let answers = vec![
            answer("1", "a", "Two years.", Some(5), None),
            answer("2", "b", "No idea.", Some(1), None),
            answer("3", "b", "Three years.", Some(3), None),
            answer("4", "a", "Two years, parts and labour.", Some(4), None),
        ];
        let served = Served::from([
            ((Some("bot".into()), "a".into()), 10),
            ((Some("bot".into()), "b".into()), 5),
        ]);
        let e = build_export(&answers, &served, 4);
        assert_eq!(e.sft.len(), 2);
        assert_eq!(
            e.sft[0]["messages"][1],
            json!({"role": "assistant", "content": "Two years."})
        );
        // 5 vs 1, then 4 vs 3.
        assert_eq!(e.preferences.len(), 2);
        assert_eq!(e.preferences[0]["chosen"][0]["content"], "Two years.");
        assert_eq!(e.preferences[0]["rejected"][0]["content"], "No idea.");
        assert_eq!(e.preferences[1]["rejected"][0]["content"], "Three years.");
        let a = &e.variants[0];
        assert_eq!(
            (a.variant.as_str(), a.responses, a.with_feedback, a.wins),
            ("a", 10, 2, 2)
        );
        assert_eq!(a.mean_rating, Some(4.5));
        assert_eq!((a.pair_wins, a.pair_losses), (2, 0));
        let b = &e.variants[1];
        assert_eq!((b.wins, b.pair_losses, b.mean_rating), (0, 2, Some(2.0)));
    }

    #[test]
    fn preferred_flags_pair_and_equal_or_identical_answers_do_not() {
        let answers = vec![
            answer("1", "a", "Yes.", None, Some(true)),
            answer("2", "a", "Yes.", None, Some(false)),
            answer("3", "b", "No.", None, Some(false)),
        ];
        let e = build_export(&answers, &Served::new(), 4);
        // Sorted: 1 (good), 2, 3 (bad, in arrival order): 1 vs 3 ("Yes." vs "No."), 2 unpaired.
        assert_eq!(e.preferences.len(), 1);
        assert_eq!(e.preferences[0]["rejected"][0]["content"], "No.");
        let same = vec![
            answer("1", "a", "Yes.", Some(3), None),
            answer("2", "a", "No.", Some(3), None),
        ];
        let e = build_export(&same, &Served::new(), 4);
        assert!(e.preferences.is_empty());
        assert_eq!(e.pairs_skipped["no answer better than another"], 1);
    }
}
