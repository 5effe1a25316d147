//! Preference pairs for the `dpo` recipe: records read with whet-data (TRL's layouts, explicit or
//! implicit prompt, strings or messages, or OpenAI's DPO layout), checked (a non-empty prompt,
//! different answers; an SFT record is refused) with errors naming the file and line, and
//! tokenised as TRL 1.16's `DPOTrainer` does, with its `max_length` truncation (pairs whose prompt
//! alone reaches it are dropped and counted). ORPO and SimPO get EOS appended to each answer, as
//! TRL's ORPO/CPO trainers build their ids.
//!
//! Micro-batches put the chosen rows first and the rejected rows after them, right-padded to one
//! length: one forward pass scores both, as TRL's concatenated forward does.

use std::path::Path;

use whet_data::formats::{self, Format};
use whet_data::preference::PreferenceSequence;
use whet_data::records::{Payload, RowReader};
use whet_data::{tokenize_pair, ModelTokenizer, PreferencePair, Truncation, TruncationMode};

use crate::config::DpoSection;
use crate::dataset::DatasetStats;
use crate::dpo_loss::PreferenceBatch;
use crate::error::{Error, Result};

/// One pair's two training rows.
#[derive(Debug, Clone)]
pub struct PairExample {
    pub chosen: PreferenceSequence,
    pub rejected: PreferenceSequence,
    /// The reference model's summed completion log-probs of chosen and rejected, when
    /// precomputed (`dpo.precompute_reference`).
    pub reference: Option<[f32; 2]>,
}

/// Reads, checks and tokenises every pair of `path`.
pub fn load_pairs(path: &Path, dpo: &DpoSection, tok: &ModelTokenizer, eos: Option<u32>) -> Result<(Vec<PairExample>, DatasetStats)> {
    let truncation = Truncation { max_length: Some(dpo.max_length), mode: TruncationMode::KeepStart };
    let (mut pairs, mut stats) = (Vec::new(), DatasetStats::default());
    for row in RowReader::open(path).map_err(Error::Data)? {
        let row = row.map_err(Error::Data)?;
        let at = |message: String| Error::Record { path: path.to_path_buf(), line: row.line, message };
        let obj = match row.payload {
            Payload::Object(obj) => obj,
            Payload::Malformed { message, .. } => return Err(at(message)),
        };
        let record = formats::parse(Format::Auto, obj).map_err(&at)?.record;
        let pair = PreferencePair::from_record(record).map_err(|m| at(format!("{m} (method = \"dpo\" trains on preference pairs)")))?;
        let mut ids = tokenize_pair(tok, &pair).map_err(|e| at(e.to_string()))?;
        if let Some(eos) = eos {
            ids = ids.with_eos_appended(eos);
        }
        stats.records += 1;
        if ids.is_dropped(&truncation) {
            stats.dropped_overlong += 1;
            continue;
        }
        let (chosen, rejected) = (ids.chosen_sequence(&truncation), ids.rejected_sequence(&truncation));
        if chosen.ids.len() < ids.prompt.len() + ids.chosen.len() || rejected.ids.len() < ids.prompt.len() + ids.rejected.len() {
            stats.truncated += 1;
        }
        stats.tokens += chosen.ids.len() + rejected.ids.len();
        stats.target_tokens += chosen.num_completion_tokens() + rejected.num_completion_tokens();
        pairs.push(PairExample { chosen, rejected, reference: None });
    }
    if pairs.is_empty() {
        let message = if stats.records == 0 {
            "no records; the file is empty".to_string()
        } else {
            format!("all {} pairs have a prompt of dpo.max_length = {} tokens or more and were dropped", stats.records, dpo.max_length)
        };
        return Err(Error::Record { path: path.to_path_buf(), line: 0, message });
    }
    Ok((pairs, stats))
}

/// Micro-batches of `pairs_per_batch` pairs taken in `order`, each with its chosen rows first,
/// right-padded with `pad_id`.
pub fn preference_batches(pairs: &[PairExample], order: &[usize], pairs_per_batch: usize, pad_id: u32) -> Vec<PreferenceBatch> {
    order
        .chunks(pairs_per_batch.max(1))
        .map(|chunk| {
            let rows: Vec<&PreferenceSequence> = chunk.iter().map(|&i| &pairs[i].chosen).chain(chunk.iter().map(|&i| &pairs[i].rejected)).collect();
            let len = rows.iter().map(|r| r.ids.len()).max().unwrap_or(0);
            let reference: Option<Vec<f32>> =
                chunk.iter().map(|&i| pairs[i].reference.map(|r| r[0])).chain(chunk.iter().map(|&i| pairs[i].reference.map(|r| r[1]))).collect();
            let mut batch = PreferenceBatch { input_ids: Vec::new(), completion: Vec::new(), attention: Vec::new(), reference };
            for r in rows {
                let pad = len - r.ids.len();
                batch.input_ids.push(r.ids.iter().copied().chain(std::iter::repeat_n(pad_id, pad)).collect());
                batch.completion.push(r.completion_mask.iter().copied().chain(std::iter::repeat_n(false, pad)).collect());
                batch.attention.push(std::iter::repeat_n(true, r.ids.len()).chain(std::iter::repeat_n(false, pad)).collect());
            }
            batch
        })
        .collect()
}
