//! Causal attention for training and scoring that never materialises the `(seq, seq)` scores:
//! FlashAttention-2's algorithm (Dao, 2023) as a CPU custom op with a hand-written backward.
//!
//! Why it is hand-written: the composed path (`Attention::attend`: `q kᵀ`, additive mask,
//! softmax, `· v`) builds `(batch, heads, seq, seq)` f32 scores, a masked copy, the
//! probabilities and, in the backward pass, as many gradients of the same size, per layer; in a
//! LoRA step they are most of the peak memory. Neither candle nor crates.io has a fused CPU
//! attention with a backward pass.
//!
//! The forward pass walks each block of [`BLOCK`] query rows over the key blocks it can see,
//! with an online softmax (a running maximum and sum per row, the output rescaled when the
//! maximum grows), and keeps only the output and one log-sum-exp per query row. The backward
//! pass recomputes each tile's probabilities from `q`, `k` and that log-sum-exp, with
//! `D = rowsum(dO ⊙ O)`: `dV += Pᵀ dO`, `dP = dO Vᵀ`, `dS = P ⊙ (dP − D)`, `dQ += dS K`,
//! `dK += dSᵀ Q` (times the score scale). Extra memory is a few tiles per thread, one float per
//! query row, a transposed copy of `k` (and of `v` in the backward pass) and, in the backward
//! pass, per-task copies of a kv head's `dq` when there are fewer than four (batch, kv head)
//! pairs per thread and its keys are split between tasks.
//!
//! Which keys a query sees is a [`Visibility`]: causal, optionally only within the same packed
//! record (`segments`), optionally within a sliding window; exactly the rules of
//! `attention::causal_mask` (no cached prefix) and `attention::packed_mask`. Tiles that no query
//! sees are skipped in both passes (under a causal mask, about half of them), tiles that every
//! query sees skip the per-element test.
//!
//! The log-sum-exp lives in the op value behind a `OnceLock`, as in `fused_cross_entropy.rs`:
//! candle keeps the op in the graph node, so the backward pass finds it without a second output
//! tensor to narrow away, and it is freed with the graph.
//!
//! Grouped-query heads read their kv head in place (no `repeat_kv` copies). Tiles are multiplied
//! with register-blocked loops (`mul_add`) compiled for the CPU's SIMD level through
//! `pulp` (about 4× candle's composed path per layer, forward and backward: docs/benchmarks.md;
//! the `gemm` crate would need `unsafe`, which the workspace denies); `exp` is a polynomial that
//! vectorises (`libm`'s does not). Parallel over (batch, head, query block) in the forward pass
//! and (batch, kv head, key range) in the backward pass, with rayon. f32 on the CPU only;
//! queries and keys are the same positions (no KV cache: decoding and bf16 use the composed
//! path).

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

use crate::cpu_storage::f32_slice;

/// Query rows and key columns per tile: a tile of scores is 16 KiB, so the tile, the key and
/// value blocks (16 KiB each at head dim 64) and the output rows stay in L1/L2.
pub const BLOCK: usize = 64;

const NAME: &str = "flash-attention";

/// What a tile of (query block, key block) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tile {
    /// No query of the block sees any key of the block: skipped.
    Hidden,
    /// Some pairs are visible: each is tested.
    Partial,
    /// Every query of the block sees every key of the block.
    Visible,
}

/// Which keys each query sees, for sequences of `seq` positions with no cached prefix: key `j`
/// is visible from query `i` when `j <= i`, both are in the same record (packed rows), and
/// `i − j < window` (with a window). Built once per forward pass and shared by the layers.
#[derive(Debug)]
pub struct Visibility {
    seq: usize,
    /// Per row, the record of each position (packed rows); `None`: one sequence per row.
    segments: Option<Vec<Vec<u32>>>,
    window: Option<usize>,
    /// Tile kinds, `blocks × blocks` (query block major), per row of `segments` (one shared
    /// table without segments).
    tiles: Vec<Vec<Tile>>,
}

impl Visibility {
    /// Causal attention over `seq` fresh positions, as `causal_mask(seq, 0, window)`.
    pub fn causal(seq: usize, window: Option<usize>) -> Self {
        let tiles = vec![tile_table(seq, window, |_, _| true)];
        Self { seq, segments: None, window, tiles }
    }

    /// Packed rows (`segments[row][j]` the record of token `j`, every row the same length), as
    /// `packed_mask(segments, window)`.
    pub fn packed(segments: &[Vec<u32>], window: Option<usize>) -> Self {
        let seq = segments.first().map_or(0, Vec::len);
        let tiles = segments.iter().map(|s| tile_table(seq, window, |i, j| s[i] == s[j])).collect();
        Self { seq, segments: Some(segments.to_vec()), window, tiles }
    }

    fn tile(&self, row: usize, qb: usize, kb: usize) -> Tile {
        let table = if self.segments.is_some() { &self.tiles[row] } else { &self.tiles[0] };
        table[qb * self.seq.div_ceil(BLOCK) + kb]
    }
}

/// The tile kinds of one row, `same(i, j)` saying whether positions `i` and `j` share a record.
/// Counted pair by pair (only the causal, in-window ones), so that it is exact for any segment
/// ids; shared by every head and layer, it costs a small fraction of one head's scores.
fn tile_table(seq: usize, window: Option<usize>, same: impl Fn(usize, usize) -> bool) -> Vec<Tile> {
    let blocks = seq.div_ceil(BLOCK);
    let mut tiles = vec![Tile::Hidden; blocks * blocks];
    for qb in 0..blocks {
        let (i0, i1) = (qb * BLOCK, seq.min((qb + 1) * BLOCK));
        for kb in 0..=qb {
            let (j0, j1) = (kb * BLOCK, seq.min((kb + 1) * BLOCK));
            let mut seen = 0;
            for i in i0..i1 {
                let lo = window.map_or(j0, |w| j0.max((i + 1).saturating_sub(w)));
                seen += (lo..j1.min(i + 1)).filter(|&j| same(i, j)).count();
            }
            tiles[qb * blocks + kb] = match seen {
                0 => Tile::Hidden,
                n if n == (i1 - i0) * (j1 - j0) => Tile::Visible,
                _ => Tile::Partial,
            };
        }
    }
    tiles
}

/// Attention of `q` `(batch, heads, seq, d)` over `k` and `v` `(batch, kv_heads, seq, d)` (f32,
/// CPU; `heads` a multiple of `kv_heads`, query head `i` reading kv head `i / (heads /
/// kv_heads)`), scores scaled by `1/√d`, keys visible as `vis` says: `(batch, heads, seq, d)`.
/// Differentiable in all three inputs.
pub fn flash_attention(q: &Tensor, k: &Tensor, v: &Tensor, vis: &Arc<Visibility>) -> candle_core::Result<Tensor> {
    let (b, h, t, d) = q.dims4()?;
    let (kb, kvh, kt, kd) = k.dims4()?;
    let shapes_agree = (kb, kt, kd) == (b, t, d) && v.dims() == k.dims() && kvh > 0 && h % kvh == 0;
    let rows_agree = t == vis.seq && vis.segments.as_ref().is_none_or(|s| s.len() == b);
    if !shapes_agree || !rows_agree {
        candle_core::bail!(
            "{NAME}: q {:?}, k {:?}, v {:?} for {} positions of {} rows",
            q.dims(),
            k.dims(),
            v.dims(),
            vis.seq,
            vis.segments.as_ref().map_or(b, Vec::len)
        );
    }
    if [q, k, v].iter().any(|x| x.dtype() != DType::F32 || !x.device().is_cpu()) {
        candle_core::bail!("{NAME}: expects f32 tensors on the CPU");
    }
    let op = FlashAttention { vis: vis.clone(), scale: (1.0 / (d as f64).sqrt()) as f32, lse: OnceLock::new() };
    q.contiguous()?.apply_op3(&k.contiguous()?, &v.contiguous()?, op)
}

struct FlashAttention {
    vis: Arc<Visibility>,
    scale: f32,
    /// Per query row, `(batch, heads, seq)`: the log-sum-exp of its scaled, visible scores, set
    /// by the forward pass.
    lse: OnceLock<Vec<f32>>,
}

/// Sizes of one call: heads, kv heads, positions, head dim.
#[derive(Clone, Copy)]
struct Dims {
    h: usize,
    kvh: usize,
    t: usize,
    d: usize,
}

impl Dims {
    fn n_rep(&self) -> usize {
        self.h / self.kvh
    }

    fn blocks(&self) -> usize {
        self.t.div_ceil(BLOCK)
    }

    /// First position and length of block `blk`.
    fn block(&self, blk: usize) -> (usize, usize) {
        let start = blk * BLOCK;
        (start, BLOCK.min(self.t - start))
    }
}

impl CustomOp3 for FlashAttention {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (q, k, v) = (f32_slice(qs, ql, NAME)?, f32_slice(ks, kl, NAME)?, f32_slice(vs, vl, NAME)?);
        let (b, h, t, d) = ql.shape().dims4()?;
        let dims = Dims { h, kvh: kl.shape().dims4()?.1, t, d };
        let kt = transpose_heads(k, t, d);
        let mut out = vec![0f32; b * h * t * d];
        let mut lse = vec![0f32; b * h * t];
        if t > 0 && d > 0 {
            out.par_chunks_mut(t * d).zip(lse.par_chunks_mut(t)).enumerate().for_each(|(bh, (o_head, lse_head))| {
                let (row, head) = (bh / h, bh % h);
                let kv = row * dims.kvh + head / dims.n_rep();
                let heads = HeadInputs {
                    q: &q[bh * t * d..(bh + 1) * t * d],
                    kt: &kt[kv * t * d..(kv + 1) * t * d],
                    v: &v[kv * t * d..(kv + 1) * t * d],
                };
                o_head.par_chunks_mut(BLOCK * d).zip(lse_head.par_chunks_mut(BLOCK)).enumerate().for_each(|(qb, (o, lse))| {
                    pulp::Arch::new().dispatch(ForwardTask { op: self, dims, row, qb, x: &heads, o, lse });
                });
            });
        }
        // candle builds a new op value per call, so the forward pass runs once per value.
        let _ = self.lse.set(lse);
        Ok((CpuStorage::F32(out), ql.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        o: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(lse) = self.lse.get() else {
            candle_core::bail!("{NAME}: backward before forward");
        };
        let (b, h, t, d) = q.dims4()?;
        let dims = Dims { h, kvh: k.dims4()?.1, t, d };
        let grad = grad.to_dtype(DType::F32)?.contiguous()?;
        let (q_s, q_l) = q.storage_and_layout();
        let (k_s, k_l) = k.storage_and_layout();
        let (v_s, v_l) = v.storage_and_layout();
        let (o_s, o_l) = o.storage_and_layout();
        let (g_s, g_l) = grad.storage_and_layout();
        let (q, k, v) = (cpu_f32(&q_s, q_l)?, cpu_f32(&k_s, k_l)?, cpu_f32(&v_s, v_l)?);
        let (o, g) = (cpu_f32(&o_s, o_l)?, cpu_f32(&g_s, g_l)?);

        // D = rowsum(dO ⊙ O), one per query row.
        let mut dot = vec![0f32; b * h * t];
        if d > 0 {
            dot.par_iter_mut().zip(g.par_chunks(d).zip(o.par_chunks(d))).for_each(|(s, (g, o))| {
                *s = g.iter().zip(o).map(|(g, o)| g * o).sum();
            });
        }
        let (kt, vt) = (transpose_heads(k, t, d), transpose_heads(v, t, d));
        let mut dq = vec![0f32; b * h * t * d];
        let mut dk = vec![0f32; b * dims.kvh * t * d];
        let mut dv = vec![0f32; b * dims.kvh * t * d];
        if t > 0 && d > 0 {
            // Each task owns a range of keys of one kv head (its rows of dk and dv); the ranges
            // are split until there are a few tasks per thread, each then summing into its own
            // copy of the group's dq.
            let groups = b * dims.kvh;
            let per_group = (4 * rayon::current_num_threads()).div_ceil(groups).clamp(1, dims.blocks());
            let chunk_rows = dims.blocks().div_ceil(per_group) * BLOCK;
            let group_len = dims.n_rep() * t * d;
            let inputs = BackwardInputs { q, k, kt: &kt, vt: &vt, g, lse, dot: &dot };
            dq.par_chunks_mut(group_len)
                .zip(dk.par_chunks_mut(t * d).zip(dv.par_chunks_mut(t * d)))
                .enumerate()
                .for_each(|(group, (dq_group, (dk_head, dv_head)))| {
                    let run = |first: usize, dk: &mut [f32], dv: &mut [f32], dq: &mut [f32]| {
                        pulp::Arch::new().dispatch(BackwardTask { op: self, dims, group, first, x: &inputs, dk, dv, dq });
                    };
                    if per_group == 1 {
                        run(0, dk_head, dv_head, dq_group);
                        return;
                    }
                    let parts: Vec<Vec<f32>> = dk_head
                        .par_chunks_mut(chunk_rows * d)
                        .zip(dv_head.par_chunks_mut(chunk_rows * d))
                        .enumerate()
                        .map(|(c, (dk, dv))| {
                            let mut part = vec![0f32; group_len];
                            run(c * chunk_rows, dk, dv, &mut part);
                            part
                        })
                        .collect();
                    for part in parts {
                        dq_group.iter_mut().zip(part).for_each(|(a, p)| *a += p);
                    }
                });
        }
        let shape_q = Shape::from((b, h, t, d));
        let shape_kv = Shape::from((b, dims.kvh, t, d));
        let dev = &candle_core::Device::Cpu;
        Ok((
            Some(Tensor::from_vec(dq, shape_q, dev)?),
            Some(Tensor::from_vec(dk, shape_kv.clone(), dev)?),
            Some(Tensor::from_vec(dv, shape_kv, dev)?),
        ))
    }
}

/// The f32 elements of contiguous CPU storage `s`.
fn cpu_f32<'a>(s: &'a Storage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    let Storage::Cpu(cpu) = s else {
        candle_core::bail!("{NAME}: CPU only");
    };
    f32_slice(cpu, l, NAME)
}

/// One query head's rows and its kv head's keys (transposed, `(d, t)`) and values `(t, d)`.
struct HeadInputs<'a> {
    q: &'a [f32],
    kt: &'a [f32],
    v: &'a [f32],
}

/// What the backward pass reads, whole tensors: `q`, `k`, upstream gradient `g` (as `q`), the
/// transposed `k` and `v` (`(b, kv_heads, d, t)`), and per query row the log-sum-exp and `D`.
struct BackwardInputs<'a> {
    q: &'a [f32],
    k: &'a [f32],
    kt: &'a [f32],
    vt: &'a [f32],
    g: &'a [f32],
    lse: &'a [f32],
    dot: &'a [f32],
}

/// One forward task: [`FlashAttention::forward_block`]. The kernels are `#[inline(always)]`
/// down from `with_simd`, so pulp compiles them with the CPU's SIMD features (AVX2/AVX-512; a
/// closure passed to `dispatch` is not reliably inlined and ran as baseline SSE2 code).
struct ForwardTask<'a> {
    op: &'a FlashAttention,
    dims: Dims,
    row: usize,
    qb: usize,
    x: &'a HeadInputs<'a>,
    o: &'a mut [f32],
    lse: &'a mut [f32],
}

impl pulp::WithSimd for ForwardTask<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        self.op.forward_block::<S>(self.dims, self.row, self.qb, self.x, self.o, self.lse);
    }
}

/// One backward task: [`FlashAttention::backward_keys`], dispatched as [`ForwardTask`] is.
struct BackwardTask<'a> {
    op: &'a FlashAttention,
    dims: Dims,
    group: usize,
    first: usize,
    x: &'a BackwardInputs<'a>,
    dk: &'a mut [f32],
    dv: &'a mut [f32],
    dq: &'a mut [f32],
}

impl pulp::WithSimd for BackwardTask<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        self.op.backward_keys::<S>(self.dims, self.group, self.first, self.x, self.dk, self.dv, self.dq);
    }
}

impl FlashAttention {
    /// The keys `[lo, hi)` of block `j0..j0 + bk` that query `i` of batch row `row` may see, as
    /// offsets in the block, before the record test (`same_record`): causality and the window
    /// bound a contiguous range.
    #[inline(always)]
    fn key_range(&self, i: usize, j0: usize, bk: usize) -> (usize, usize) {
        let hi = (i + 1).saturating_sub(j0).min(bk);
        let lo = self.vis.window.map_or(0, |w| (i + 1).saturating_sub(w).saturating_sub(j0)).min(hi);
        (lo, hi)
    }

    /// Sets `x[c]` to `hidden` for each key `j0 + c` of a partial tile that query `i` of batch
    /// row `row` does not see.
    #[inline(always)]
    fn mask_row(&self, row: usize, i: usize, j0: usize, x: &mut [f32], hidden: f32) {
        let (lo, hi) = self.key_range(i, j0, x.len());
        x[..lo].fill(hidden);
        x[hi..].fill(hidden);
        if let Some(segments) = &self.vis.segments {
            let seg = &segments[row];
            let own = seg[i];
            for (x, &s) in x[lo..hi].iter_mut().zip(&seg[j0 + lo..j0 + hi]) {
                if s != own {
                    *x = hidden;
                }
            }
        }
    }

    /// Output rows `o` and log-sum-exps `lse` of query block `qb` of one head of batch row `row`.
    #[inline(always)]
    fn forward_block<S: pulp::Simd>(&self, dims: Dims, row: usize, qb: usize, x: &HeadInputs, o: &mut [f32], lse: &mut [f32]) {
        let Dims { t, d, .. } = dims;
        let (i0, bq) = dims.block(qb);
        let q = &x.q[i0 * d..(i0 + bq) * d];
        // Per row: running maximum and sum of exp(score − maximum); `o` accumulates the
        // unnormalised output, rescaled whenever the maximum grows.
        let mut max = [f32::NEG_INFINITY; BLOCK];
        let mut sum = [0f32; BLOCK];
        let mut s = vec![0f32; BLOCK * BLOCK];
        for kb in 0..=qb {
            let tile = self.vis.tile(row, qb, kb);
            if tile == Tile::Hidden {
                continue;
            }
            let (j0, bk) = dims.block(kb);
            // S = Q Kᵀ
            s.fill(0.0);
            mul_add::<S>(q, (d, 1), &x.kt[j0..], t, &mut s, BLOCK, (bq, d, bk));
            for r in 0..bq {
                let sr = &mut s[r * BLOCK..r * BLOCK + bk];
                sr.iter_mut().for_each(|x| *x *= self.scale);
                if tile == Tile::Partial {
                    self.mask_row(row, i0 + r, j0, sr, f32::NEG_INFINITY);
                }
                let m = max_of(sr).max(max[r]);
                if m == f32::NEG_INFINITY {
                    // Nothing visible to this row yet: its probabilities here are 0.
                    sr.fill(0.0);
                    continue;
                }
                let correction = exp(max[r] - m);
                sr.iter_mut().for_each(|x| *x = exp(*x - m));
                sum[r] = sum[r] * correction + sum_of(sr);
                max[r] = m;
                if correction != 1.0 {
                    o[r * d..(r + 1) * d].iter_mut().for_each(|x| *x *= correction);
                }
            }
            // O += P V
            mul_add::<S>(&s, (BLOCK, 1), &x.v[j0 * d..], d, o, d, (bq, bk, d));
        }
        for r in 0..bq {
            if sum[r] > 0.0 {
                let inv = 1.0 / sum[r];
                o[r * d..(r + 1) * d].iter_mut().for_each(|x| *x *= inv);
                lse[r] = max[r] + sum[r].ln();
            } else {
                // A row that sees no key (only with a window of 0) outputs 0; an infinite
                // log-sum-exp makes its probabilities 0 in the backward pass too.
                lse[r] = f32::INFINITY;
            }
        }
    }

    /// Gradients from the keys of kv head `group` (`batch row × kv_heads + kv head`) starting at
    /// position `first` (a block boundary), as many as `dk` holds: their rows of `dk` and `dv`,
    /// and their contribution to `dq` of the group's query heads (`(n_rep, t, d)`, added).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn backward_keys<S: pulp::Simd>(&self, dims: Dims, group: usize, first: usize, x: &BackwardInputs, dk: &mut [f32], dv: &mut [f32], dq: &mut [f32]) {
        let Dims { h, kvh, t, d, .. } = dims;
        let (row, g) = (group / kvh, group % kvh);
        let kt = &x.kt[group * t * d..(group + 1) * t * d];
        let vt = &x.vt[group * t * d..(group + 1) * t * d];
        let k = &x.k[group * t * d..(group + 1) * t * d];
        let mut p = vec![0f32; BLOCK * BLOCK];
        let mut ds = vec![0f32; BLOCK * BLOCK];
        let first_block = first / BLOCK;
        for kb in first_block..first_block + (dk.len() / d).div_ceil(BLOCK) {
            let (j0, bk) = dims.block(kb);
            let dk_blk = &mut dk[(j0 - first) * d..(j0 - first + bk) * d];
            let dv_blk = &mut dv[(j0 - first) * d..(j0 - first + bk) * d];
            for r in 0..dims.n_rep() {
                // First row of query head r of the group, in (b, h, t) rows.
                let base = (row * h + g * dims.n_rep() + r) * t;
                let dq_head = &mut dq[r * t * d..(r + 1) * t * d];
                for qb in kb..dims.blocks() {
                    let tile = self.vis.tile(row, qb, kb);
                    if tile == Tile::Hidden {
                        continue;
                    }
                    let (i0, bq) = dims.block(qb);
                    let q = &x.q[(base + i0) * d..(base + i0 + bq) * d];
                    let g_rows = &x.g[(base + i0) * d..(base + i0 + bq) * d];
                    // P = exp(scale · Q Kᵀ − lse), 0 where hidden.
                    p.fill(0.0);
                    mul_add::<S>(q, (d, 1), &kt[j0..], t, &mut p, BLOCK, (bq, d, bk));
                    for rr in 0..bq {
                        let lse = x.lse[base + i0 + rr];
                        let pr = &mut p[rr * BLOCK..rr * BLOCK + bk];
                        pr.iter_mut().for_each(|x| *x = exp(*x * self.scale - lse));
                        if tile == Tile::Partial {
                            self.mask_row(row, i0 + rr, j0, pr, 0.0);
                        }
                    }
                    // dV += Pᵀ dO
                    mul_add::<S>(&p, (1, BLOCK), g_rows, d, dv_blk, d, (bk, bq, d));
                    // dP = dO Vᵀ, then dS = P ⊙ (dP − D) · scale, in place.
                    ds.fill(0.0);
                    mul_add::<S>(g_rows, (d, 1), &vt[j0..], t, &mut ds, BLOCK, (bq, d, bk));
                    for rr in 0..bq {
                        let dot = x.dot[base + i0 + rr];
                        let (dr, pr) = (&mut ds[rr * BLOCK..rr * BLOCK + bk], &p[rr * BLOCK..rr * BLOCK + bk]);
                        dr.iter_mut().zip(pr).for_each(|(x, p)| *x = p * (*x - dot) * self.scale);
                    }
                    // dQ += dS K, dK += dSᵀ Q
                    mul_add::<S>(&ds, (BLOCK, 1), &k[j0 * d..], d, &mut dq_head[i0 * d..(i0 + bq) * d], d, (bq, bk, d));
                    mul_add::<S>(&ds, (1, BLOCK), q, d, dk_blk, d, (bk, bq, d));
                }
            }
        }
    }
}

/// `(b · heads, t, d)` → `(b · heads, d, t)`, so that a block of keys is contiguous per
/// feature: the score products then vectorise over keys.
fn transpose_heads(x: &[f32], t: usize, d: usize) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    if t * d > 0 {
        out.par_chunks_mut(t * d).zip(x.par_chunks(t * d)).for_each(|(o, x)| {
            for (i, row) in x.chunks_exact(d).enumerate() {
                for (f, &v) in row.iter().enumerate() {
                    o[f * t + i] = v;
                }
            }
        });
    }
    out
}

/// Rows of `c` computed together by [`mul_add`], and columns (two AVX-512 vectors): 8
/// accumulator registers, enough independent additions to hide their latency.
const MR: usize = 4;
const NC: usize = 32;

/// `c[r][..n] += Σₖ a(r, k) · b[k][..n]` for `r < m`, `k < inner`, where `a(r, k) =
/// a[r · a_strides.0 + k · a_strides.1]` (so `a` can be read transposed) and `b`, `c` are
/// row-major with row strides `ldb`, `ldc`: a tile product, for SIMD level `S`. Blocks of [`MR`] × [`NC`] of `c`
/// are accumulated in registers over the whole inner dimension, each row of `b` loaded once
/// per block; the remaining rows and columns take a plain loop.
#[inline(always)]
fn mul_add<S: pulp::Simd>(a: &[f32], a_strides: (usize, usize), b: &[f32], ldb: usize, c: &mut [f32], ldc: usize, (m, inner, n): (usize, usize, usize)) {
    let (ars, aks) = a_strides;
    let (m_main, n_main) = (m / MR * MR, n / NC * NC);
    for r0 in (0..m_main).step_by(MR) {
        for c0 in (0..n_main).step_by(NC) {
            let mut acc = [[0f32; NC]; MR];
            for kk in 0..inner {
                let b_row = &b[kk * ldb + c0..kk * ldb + c0 + NC];
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = a[(r0 + r) * ars + kk * aks];
                    for (acc, bv) in acc.iter_mut().zip(b_row) {
                        // Fused multiply-adds where the SIMD level has them (pulp's levels
                        // above scalar all do); `mul_add` would be a slow libm call otherwise.
                        *acc = if S::IS_SCALAR { *acc + x * bv } else { x.mul_add(*bv, *acc) };
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let c_row = &mut c[(r0 + r) * ldc + c0..(r0 + r) * ldc + c0 + NC];
                c_row.iter_mut().zip(acc).for_each(|(c, a)| *c += a);
            }
        }
    }
    let rest = |rows: std::ops::Range<usize>, cols: std::ops::Range<usize>, c: &mut [f32]| {
        for r in rows {
            let c_row = &mut c[r * ldc + cols.start..r * ldc + cols.end];
            for kk in 0..inner {
                let x = a[r * ars + kk * aks];
                let b_row = &b[kk * ldb + cols.start..kk * ldb + cols.end];
                c_row.iter_mut().zip(b_row).for_each(|(c, b)| *c += x * b);
            }
        }
    };
    if n_main < n {
        rest(0..m_main, n_main..n, c);
    }
    rest(m_main..m, 0..n, c);
}

/// Lanes of the reductions below: independent accumulators, so the loops vectorise.
const LANES: usize = 16;

/// The largest of `x` (−∞ when empty).
#[inline(always)]
fn max_of(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder().iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    acc.iter().copied().fold(tail, f32::max)
}

/// The sum of `x`.
#[inline(always)]
fn sum_of(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `eˣ` in f32, within 2 ulp of `f32::exp` from −87.3 to 88 (softmax passes values ≤ 0), 0
/// below −87.3 (and for −∞): Cephes' `expf` (range reduction by ln 2, degree-6 polynomial), written so that
/// loops over it vectorise.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n · LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = x.clamp(-87.3, 88.0);
    let n = (xc * LOG2E + 0.5).floor();
    let r = xc - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = (p * r * r + r + 1.0) * f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x < -87.3 {
        0.0
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::{causal_mask, packed_mask};
    use candle_core::{Device, Var};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn random(shape: (usize, usize, usize, usize), spread: f32, rng: &mut StdRng) -> Tensor {
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        let v: Vec<f32> = (0..n).map(|_| rng.random_range(-spread..spread)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// Today's composed path (`Attention::attend`): query heads grouped by kv head, scaled
    /// scores plus the additive mask, softmax, times `v`; `(b, h, t, d)`.
    fn composed(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Tensor {
        let (b, h, t, d) = q.dims4().unwrap();
        let kvh = k.dim(1).unwrap();
        let q = q.reshape((b, kvh, h / kvh * t, d)).unwrap();
        let scores = (q.matmul(&k.t().unwrap()).unwrap() * (1.0 / (d as f64).sqrt())).unwrap();
        let scores = match mask {
            Some(m) => scores
                .reshape((b, kvh, h / kvh, t, t))
                .unwrap()
                .broadcast_add(m)
                .unwrap()
                .reshape((b, kvh, h / kvh * t, t))
                .unwrap(),
            None => scores,
        };
        let probs = crate::softmax::softmax_last_dim(&scores).unwrap();
        probs.matmul(v).unwrap().reshape((b, h, t, d)).unwrap()
    }

    fn max_abs(t: &Tensor) -> f32 {
        t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
    }

    /// Compares the op with the composed path on random inputs: output, and the gradients of
    /// q, k and v under a random upstream gradient, each within 1e-5 of the reference's scale.
    fn check(b: usize, h: usize, kvh: usize, t: usize, d: usize, segments: Option<&[Vec<u32>]>, window: Option<usize>, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let dev = &Device::Cpu;
        // Queries spread wide enough that the softmax is far from uniform.
        let q = Var::from_tensor(&random((b, h, t, d), 2.0, &mut rng)).unwrap();
        let k = Var::from_tensor(&random((b, kvh, t, d), 1.0, &mut rng)).unwrap();
        let v = Var::from_tensor(&random((b, kvh, t, d), 1.0, &mut rng)).unwrap();
        let probe = random((b, h, t, d), 1.0, &mut rng);
        let (vis, mask) = match segments {
            Some(s) => (Visibility::packed(s, window), Some(packed_mask(s, window, dev).unwrap())),
            None => (Visibility::causal(t, window), causal_mask(t, 0, window, dev).unwrap()),
        };
        let case = format!("b {b}, h {h}, kvh {kvh}, t {t}, d {d}, packed {}, window {window:?}", segments.is_some());
        let fused = flash_attention(q.as_tensor(), k.as_tensor(), v.as_tensor(), &Arc::new(vis)).unwrap();
        let reference = composed(q.as_tensor(), k.as_tensor(), v.as_tensor(), mask.as_ref());
        let diff = max_abs(&(&fused - &reference).unwrap());
        let scale = max_abs(&reference);
        assert!(diff <= 1e-5 * scale, "{case}: outputs differ by {diff} (scale {scale})");

        let g1 = (fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (reference * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, x) in [("q", &q), ("k", &k), ("v", &v)] {
            let (a, r) = (g1.get(x.as_tensor()).unwrap(), g2.get(x.as_tensor()).unwrap());
            let diff = max_abs(&(a - r).unwrap());
            let scale = max_abs(r);
            assert!(diff <= 1e-5 * scale, "{case}: d{name} differs by {diff} (scale {scale})");
            // With one position the softmax is constant: only v gets a gradient.
            assert!(scale > 0.0 || (t == 1 && name != "v"), "{case}: no gradient for {name}");
        }
    }

    /// Record ids for a row of records with these lengths.
    fn records(lengths: &[usize]) -> Vec<u32> {
        lengths.iter().enumerate().flat_map(|(r, &n)| std::iter::repeat_n(r as u32, n)).collect()
    }

    #[test]
    fn causal_attention_and_its_gradients_equal_the_composed_path() {
        check(2, 4, 2, 130, 16, None, None, 1);
        check(1, 3, 1, 64, 7, None, None, 2);
        check(1, 6, 3, 200, 33, None, None, 3);
        check(2, 2, 2, 65, 64, None, None, 4);
        check(1, 2, 2, 1, 5, None, None, 5);
    }

    #[test]
    fn sliding_window_attention_and_its_gradients_equal_the_composed_path() {
        check(1, 4, 2, 150, 12, None, Some(5), 6);
        check(2, 3, 1, 200, 9, None, Some(70), 7);
        check(1, 2, 1, 129, 16, None, Some(64), 8);
        check(1, 2, 2, 1, 4, None, Some(1), 9);
    }

    #[test]
    fn packed_rows_and_their_gradients_equal_the_composed_path() {
        // Records of all different lengths (one of a single token, one across two blocks),
        // beside a row that is one record and a row of two equal records.
        let rows = [records(&[1, 63, 2, 70, 14]), records(&[150]), records(&[75, 75])];
        check(3, 4, 2, 150, 16, Some(&rows), None, 10);
        check(3, 3, 1, 150, 11, Some(&rows), Some(20), 11);
        check(3, 6, 3, 150, 8, Some(&rows), Some(100), 12);
        check(1, 2, 1, 1, 6, Some(&[vec![0]]), None, 13);
        // Padding-like ids that repeat out of order: the rule is `same id`, whatever the order.
        let odd = vec![vec![3, 3, 1, 1, 1, 3, 7, 1, 7, 7, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]];
        check(1, 2, 2, odd[0].len(), 16, Some(&odd), Some(3), 14);
    }

    #[test]
    fn tiles_no_query_sees_are_hidden_and_tiles_every_query_sees_are_visible() {
        // 3 blocks; causal: above the diagonal hidden, on it partial, below it visible.
        let vis = Visibility::causal(3 * BLOCK, None);
        assert_eq!(vis.tiles[0], [Tile::Partial, Tile::Hidden, Tile::Hidden, Tile::Visible, Tile::Partial, Tile::Hidden, Tile::Visible, Tile::Visible, Tile::Partial]);
        // Records aligned to blocks: only the diagonal is computed.
        let vis = Visibility::packed(&[records(&[BLOCK, BLOCK, BLOCK])], None);
        let computed: Vec<usize> = (0..9).filter(|&i| vis.tiles[0][i] != Tile::Hidden).collect();
        assert_eq!(computed, [0, 4, 8]);
        // A window shorter than a block hides the tiles two blocks back.
        let vis = Visibility::causal(3 * BLOCK, Some(10));
        assert_eq!(vis.tile(0, 2, 0), Tile::Hidden);
        assert_eq!(vis.tile(0, 2, 1), Tile::Partial);
    }

    #[test]
    fn exp_is_within_two_ulp_of_the_standard_exp() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (exp(x), x.exp());
            assert!((a - b).abs() <= 2.0 * f32::EPSILON * b, "exp({x}) = {a}, expected {b}");
            x += 0.0137;
        }
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }
}
