//! Turning tokenised examples into micro-batches: right-padded rows, or packed rows holding
//! several examples that attend only within themselves. The order is a seeded shuffle per epoch,
//! so a run — and a resumed run — sees the same batches in the same order.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use whet_data::Tokenized;

use crate::loss::Batch;

/// A seed for the `n`-th use of the run's seed (epoch, step), multiplied by 2⁶⁴/φ so nearby
/// values give unrelated generators.
pub fn derive_seed(seed: u64, n: u64) -> u64 {
    seed.wrapping_add(n).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The example order of `epoch`: a permutation seeded by the run's seed and the epoch.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(derive_seed(seed, epoch as u64));
    order.shuffle(&mut rng);
    order
}

/// Micro-batches of `rows_per_batch` rows over `examples` taken in `order`. Unpacked, a row is one
/// example; packed, rows are filled in order up to `max_seq_len` tokens. Rows of a micro-batch are
/// right-padded with `pad_id` (padding is never a target and, packed, a record of its own).
pub fn micro_batches(
    examples: &[Tokenized],
    order: &[usize],
    rows_per_batch: usize,
    max_seq_len: usize,
    packing: bool,
    pad_id: u32,
) -> Vec<Batch> {
    // Each row: token ids, targets, and the record index of each token.
    let mut rows: Vec<(Vec<u32>, Vec<bool>, Vec<u32>)> = Vec::new();
    for &i in order {
        let ex = &examples[i];
        let fits = rows.last().is_some_and(|(ids, _, _)| ids.len() + ex.ids.len() <= max_seq_len);
        if !(packing && fits) {
            rows.push((Vec::new(), Vec::new(), Vec::new()));
        }
        if let Some((ids, targets, segments)) = rows.last_mut() {
            let segment = segments.last().map_or(0, |s| s + 1);
            ids.extend(&ex.ids);
            targets.extend(&ex.targets);
            segments.extend(std::iter::repeat_n(segment, ex.ids.len()));
        }
    }
    rows.chunks(rows_per_batch.max(1))
        .map(|chunk| {
            let len = chunk.iter().map(|(ids, _, _)| ids.len()).max().unwrap_or(0);
            let mut batch = Batch {
                input_ids: Vec::new(),
                targets: Vec::new(),
                segments: packing.then(Vec::new),
                tokens: chunk.iter().map(|(ids, _, _)| ids.len()).sum(),
            };
            for (ids, targets, segments) in chunk {
                let pad = len - ids.len();
                let pad_segment = segments.last().map_or(0, |s| s + 1);
                batch.input_ids.push(ids.iter().copied().chain(std::iter::repeat_n(pad_id, pad)).collect());
                batch.targets.push(targets.iter().copied().chain(std::iter::repeat_n(false, pad)).collect());
                if let Some(s) = &mut batch.segments {
                    s.push(segments.iter().copied().chain(std::iter::repeat_n(pad_segment, pad)).collect());
                }
            }
            batch
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(n: usize, first: u32) -> Tokenized {
        Tokenized { ids: (first..first + n as u32).collect(), targets: (0..n).map(|i| i > 0).collect() }
    }

    #[test]
    fn padded_rows_hold_one_example_and_padding_is_never_a_target() {
        let examples = [ex(3, 10), ex(5, 20), ex(2, 30)];
        let batches = micro_batches(&examples, &[0, 1, 2], 2, 8, false, 0);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].input_ids, vec![vec![10, 11, 12, 0, 0], vec![20, 21, 22, 23, 24]]);
        assert_eq!(batches[0].targets[0], vec![false, true, true, false, false]);
        assert!(batches[0].segments.is_none());
    }

    #[test]
    fn packed_rows_fill_up_to_the_limit_with_one_segment_per_record() {
        let examples = [ex(3, 10), ex(4, 20), ex(3, 30), ex(5, 40)];
        let batches = micro_batches(&examples, &[0, 1, 2, 3], 4, 8, true, 0);
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        // [3 + 4] then [3 + 5]: a record never splits across rows.
        assert_eq!(b.input_ids[0], vec![10, 11, 12, 20, 21, 22, 23, 0]);
        assert_eq!(b.segments.as_ref().unwrap()[0], vec![0, 0, 0, 1, 1, 1, 1, 2]);
        // Each record's first token is not a target (it is not predicted from the previous one).
        assert_eq!(b.targets[0], vec![false, true, true, false, true, true, true, false]);
        assert_eq!(b.input_ids[1].len(), 8);
    }

    #[test]
    fn epoch_order_is_a_seeded_permutation() {
        let a = epoch_order(10, 7, 0);
        assert_eq!(a, epoch_order(10, 7, 0));
        assert_ne!(a, epoch_order(10, 7, 1));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    }
}
