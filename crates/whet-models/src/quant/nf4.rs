//! NF4 (4-bit NormalFloat) blockwise quantisation with double quantisation of the block scales,
//! exactly as bitsandbytes 0.50.2 defines it: `quantize_4bit(A, blocksize=64, quant_type="nf4",
//! compress_statistics=True)` (its default torch kernel in `backends/default/ops.py`, which its
//! CPU backend uses) and `dequantize_4bit`.
//!
//! * The weight, flattened row-major, is cut into blocks of 64; each block keeps its absmax
//!   (a trailing partial block too). Values are scaled by `1/absmax` (whole blocks) or divided
//!   by it (the trailing block), clamped to [-1, 1], and mapped to the nearest of the 16 NF4
//!   codes by the midpoints between codes (`torch.bucketize`, right=False: a value exactly on a
//!   midpoint takes the lower code).
//! * Two codes per byte, the first element in the high nibble; an odd count is padded with the
//!   code of 0.0.
//! * Double quantisation: the f32 absmax values minus their mean (the `offset`) are quantised
//!   with bitsandbytes' 8-bit signed dynamic map in blocks of 256 (`quantize_blockwise`), keeping
//!   one f32 absmax per 256 block. Dequantising gives `dynamic[q] · absmax2 + offset`.
//!
//! One deviation, in double quantisation only: bitsandbytes' CPU C kernel for
//! `quantize_blockwise` (`quantize_cpu`) finds the nearest code with an approximate binary search
//! that takes the farther neighbour for some values near a midpoint (1 code of 266 in the
//! goldens). We take the exact nearest code, as bitsandbytes' default torch kernel and CUDA kernel
//! do; the dequantised absmax then differs from the CPU one by at most one code step there.
//! The mean is an f32 sum in order divided by the count; torch's vectorised f32 sum can differ
//! from it by an ulp on long inputs, which moves a double-quantised code only when a value lies
//! within an ulp of a midpoint.

use super::dynamic::DYNAMIC_CODE;

/// bitsandbytes' NF4 code (`get_4bit_type("nf4")`), sorted ascending.
#[allow(clippy::excessive_precision)]
#[rustfmt::skip]
pub const NF4_CODE: [f32; 16] = [
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0,
];

/// Elements per NF4 block (bitsandbytes' default for QLoRA).
pub const BLOCK: usize = 64;
/// Absmax values per block of the double quantisation.
pub const DQ_BLOCK: usize = 256;

/// The midpoints between consecutive entries of a sorted code, in f32 as torch computes them.
fn midpoints(code: &[f32]) -> Vec<f32> {
    code.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect()
}

/// `torch.bucketize(x, bounds, right=False)`: the number of bounds strictly below `x`.
fn bucket(bounds: &[f32], x: f32) -> u8 {
    bounds.partition_point(|b| *b < x) as u8
}

/// bitsandbytes' default `quantize_blockwise`/`quantize_4bit` core: per-block absmax and the code
/// index of every value.
pub(crate) fn blockwise(values: &[f32], blocksize: usize, code: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let bounds = midpoints(code);
    let n = values.len();
    let full = n - n % blocksize;
    let mut idx = Vec::with_capacity(n);
    let mut absmax = Vec::with_capacity(n.div_ceil(blocksize));
    for block in values[..full].chunks(blocksize) {
        let am = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let inv = 1.0 / am.max(1e-38);
        idx.extend(block.iter().map(|v| bucket(&bounds, (v * inv).clamp(-1.0, 1.0))));
        absmax.push(am);
    }
    if full < n {
        // The trailing partial block: bitsandbytes divides here, and stores the clamped absmax.
        let block = &values[full..];
        let am = block.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-38);
        idx.extend(block.iter().map(|v| bucket(&bounds, (v / am).clamp(-1.0, 1.0))));
        absmax.push(am);
    }
    (idx, absmax)
}

/// Block scales quantised to 8 bits (bitsandbytes' `compress_statistics=True`).
#[derive(Debug, Clone, PartialEq)]
pub struct DoubleQuantized {
    /// One dynamic-map code per NF4 block.
    pub codes: Vec<u8>,
    /// One f32 absmax per `DQ_BLOCK` codes.
    pub absmax2: Vec<f32>,
    /// The mean subtracted from the absmax values before quantising them.
    pub offset: f32,
}

impl DoubleQuantized {
    pub fn quantize(absmax: &[f32]) -> Self {
        // f32, summed in order, as torch's `mean` does for the goldens' sizes.
        let offset = absmax.iter().sum::<f32>() / absmax.len().max(1) as f32;
        let centred: Vec<f32> = absmax.iter().map(|a| a - offset).collect();
        let (codes, absmax2) = blockwise(&centred, DQ_BLOCK, &DYNAMIC_CODE);
        Self { codes, absmax2, offset }
    }

    /// The f32 absmax of every NF4 block.
    pub fn dequantize(&self) -> Vec<f32> {
        self.codes
            .iter()
            .enumerate()
            .map(|(i, &q)| DYNAMIC_CODE[q as usize] * self.absmax2[i / DQ_BLOCK] + self.offset)
            .collect()
    }
}

/// Packs code indices two per byte, the first in the high nibble, padding an odd count with the
/// code of 0.0.
pub fn pack(idx: &[u8]) -> Vec<u8> {
    let zero = bucket(&midpoints(&NF4_CODE), 0.0);
    idx.chunks(2).map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(zero)).collect()
}

/// NF4 codes and plain f32 absmax (`compress_statistics=False`).
pub fn quantize(values: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let (idx, absmax) = blockwise(values, BLOCK, &NF4_CODE);
    (pack(&idx), absmax)
}

/// The values that packed codes and per-block absmax stand for, written into `out` (which starts
/// at a block boundary of `packed`/`absmax`): one byte, two values, at a time.
pub fn dequantize_into(packed: &[u8], absmax: &[f32], out: &mut [f32]) {
    for (block, (o, &a)) in out.chunks_mut(BLOCK).zip(absmax).enumerate() {
        let bytes = &packed[block * BLOCK / 2..];
        for (pair, &byte) in o.chunks_mut(2).zip(bytes) {
            pair[0] = NF4_CODE[(byte >> 4) as usize] * a;
            if let Some(second) = pair.get_mut(1) {
                *second = NF4_CODE[(byte & 0x0f) as usize] * a;
            }
        }
    }
}

/// An NF4 weight with double-quantised scales: about 4.13 bits per value.
#[derive(Debug, Clone, PartialEq)]
pub struct Nf4 {
    pub len: usize,
    pub packed: Vec<u8>,
    pub absmax: DoubleQuantized,
}

impl Nf4 {
    pub fn quantize(values: &[f32]) -> Self {
        let (packed, absmax) = quantize(values);
        Self { len: values.len(), packed, absmax: DoubleQuantized::quantize(&absmax) }
    }

    /// The dequantised values, in parallel over row-aligned chunks of whole blocks.
    pub fn dequantize(&self) -> Vec<f32> {
        use rayon::prelude::*;
        let absmax = self.absmax.dequantize();
        let mut out = vec![0f32; self.len];
        // Chunks of 64 blocks: a multiple of BLOCK (and even), so each chunk starts on a byte.
        const CHUNK: usize = BLOCK * 64;
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, o)| {
            let start = c * CHUNK;
            dequantize_into(&self.packed[start / 2..], &absmax[start / BLOCK..], o);
        });
        out
    }

    /// Bytes held: packed codes, 8-bit scales, their f32 absmax and the offset.
    pub fn bytes(&self) -> usize {
        self.packed.len() + self.absmax.codes.len() + 4 * self.absmax.absmax2.len() + 4
    }
}
