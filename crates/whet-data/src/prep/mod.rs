//! `whet data prep`: the data-preparation pipeline.
//!
//! Per record, in order (stage 1, parallel): parse → [`normalize`] → [`pii`] → [`structure`] →
//! [`language`] → [`quality`] → [`policy`] → [`decontam`]; then across records (stage 2,
//! sequential in input order): exact and near [`dedup`] → [`split`]. Every input record ends
//! in exactly one output: a split file or `rejects.jsonl` with the rule that removed it.
//! [`pipeline`] drives it; [`report`] and [`card`] write the audit report and dataset card;
//! [`inspect`] profiles a file without writing anything.

pub mod bias;
pub mod card;
pub mod config;
pub mod decontam;
pub mod dedup;
pub mod inspect;
pub mod language;
pub mod minhash;
pub mod normalize;
pub mod parquet_export;
pub mod pii;
pub mod pipeline;
pub mod policy;
pub mod quality;
pub mod report;
pub mod split;
pub mod structure;
pub mod terms;
