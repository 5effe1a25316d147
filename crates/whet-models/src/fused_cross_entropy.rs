//! The log-prob of each target token through the LM head, `log_softmax(h · Wᵀ)[t]`, computed in
//! vocabulary chunks so the full `(rows, vocab)` logits never exist: cross-entropy fused with the
//! LM head, as Liger-Kernel's fused linear cross-entropy does for PyTorch.
//!
//! Why it is hand-written: composed from candle ops (`matmul`, `log_softmax`, `gather`), the loss
//! materialises the logits and, through log-softmax and its backward, several more tensors of
//! the same size, each `rows × vocab × 4` bytes: 400 MB per copy for 4 × 512 tokens at SmolLM2's
//! 49 152-token vocabulary, most of a LoRA step's memory. No candle or crates.io op fuses them.
//!
//! The forward pass takes the vocabulary `chunk` columns at a time: `z = h_rows · W_chunkᵀ`, then
//! a running (online) log-sum-exp per row and the target's logit when it falls in the chunk. Only
//! the per-row log-sum-exp is kept.
//!
//! With a frozen head (LoRA, QLoRA, a DPO policy's adapter) the gradient needs no second pass:
//! `∂ log p_t / ∂h = W_t − Σ_v softmax_v W_v`, and the row's gradient is that vector times the
//! upstream `g`, known only later but a scalar. So the forward pass also accumulates
//! `Σ_v exp(z_v − max) W_v` per row (one more `P · W_chunk` product per chunk, rescaled as the
//! row's max rises, as FlashAttention accumulates its output) and keeps `W_t − that / sum`
//! (`rows × hidden`, the size of `h`); the backward pass only scales it by `g`. Two head-sized
//! products per step instead of three; measured in docs/benchmarks.md.
//!
//! With a trained head (full fine-tuning, where a tied `W` is the embedding matrix) the backward
//! pass recomputes each chunk's logits and turns them in place into
//! `dz = g · (onehot(t) − softmax(z))`, then `dh += dz · W_chunk` and `dW_chunk = dzᵀ · h_rows`,
//! each chunk its own rows of `dW`. Peak extra memory is two chunks' logits (each about
//! [`CHUNK_ELEMENTS`] floats: 16 MiB) plus `dW` when the head is trained, instead of several full
//! logits tensors (3.7 GiB at the shape above, measured with `examples/bench_lm_head_loss.rs`; see
//! docs/benchmarks.md).
//!
//! Rows that are not counted (prompt, padding) are skipped in both passes: their log-prob is 0
//! and their gradient is 0. So are rows whose upstream gradient is exactly 0 in the backward pass.
//! Matmuls are gemm's (multithreaded, through candle or `matmul_into`); the per-row passes run in
//! parallel with rayon.
//!
//! f32 only (whet trains in f32); callers with bf16/f16 heads, a bias or a LoRA adapter on the
//! head use the composed path. CPU only.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp2, DType, Device, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

use crate::cpu_storage::{f32_slice, storage_f32};
use crate::matmul_into::{matmul_into, MatRef};

/// Logits per chunk (16 MiB of f32), whatever the number of rows.
pub const CHUNK_ELEMENTS: usize = 1 << 22;

/// Fewest vocabulary columns per chunk, so the matmuls stay large enough to run at full speed.
const MIN_CHUNK_COLUMNS: usize = 256;

const NAME: &str = "fused-cross-entropy";

/// `(rows,)` f32: `log_softmax(hidden · weightᵀ)[i, targets[i]]` for the rows where `counted[i]`,
/// 0 elsewhere. `hidden` is `(rows, d)` f32 (the final-norm hidden states), `weight` the LM head
/// `(vocab, d)` f32. Differentiable in `hidden` and, when it is trained, in `weight`.
pub fn target_log_probs(hidden: &Tensor, weight: &Tensor, targets: &[u32], counted: &[bool]) -> candle_core::Result<Tensor> {
    let rows = counted.iter().filter(|c| **c).count().max(1);
    let vocab = weight.dim(0)?;
    let chunk = (CHUNK_ELEMENTS / rows).max(MIN_CHUNK_COLUMNS).min(vocab.max(1));
    target_log_probs_chunked(hidden, weight, targets, counted, chunk)
}

/// [`target_log_probs`] with `chunk` vocabulary columns per chunk.
pub fn target_log_probs_chunked(
    hidden: &Tensor,
    weight: &Tensor,
    targets: &[u32],
    counted: &[bool],
    chunk: usize,
) -> candle_core::Result<Tensor> {
    let (n, d) = hidden.dims2()?;
    let (vocab, wd) = weight.dims2()?;
    if wd != d || targets.len() != n || counted.len() != n || chunk == 0 {
        candle_core::bail!("{NAME}: hidden {:?}, weight {:?}, {} targets, {} flags, chunk {chunk}", hidden.dims(), weight.dims(), targets.len(), counted.len());
    }
    if hidden.dtype() != DType::F32 || weight.dtype() != DType::F32 || !matches!(hidden.device(), Device::Cpu) {
        candle_core::bail!("{NAME}: expects f32 tensors on the CPU");
    }
    if let Some((i, t)) = targets.iter().enumerate().find(|&(i, t)| counted[i] && *t as usize >= vocab) {
        candle_core::bail!("{NAME}: target {t} of row {i} is outside the vocabulary of {vocab}");
    }
    let op = FusedCrossEntropy {
        weight: weight.detach().contiguous()?,
        targets: targets.to_vec(),
        counted: counted.to_vec(),
        chunk,
        unit_grad: hidden.track_op() && !weight.track_op(),
        lse: OnceLock::new(),
        unit: OnceLock::new(),
    };
    hidden.contiguous()?.apply_op2(&weight.contiguous()?, op)
}

struct FusedCrossEntropy {
    /// The head, detached: read in place by both passes (no copy of the storage).
    weight: Tensor,
    targets: Vec<u32>,
    counted: Vec<bool>,
    /// Vocabulary columns per chunk.
    chunk: usize,
    /// Whether the forward pass also computes `unit` (a gradient will be asked for `hidden`
    /// alone: the head is frozen).
    unit_grad: bool,
    /// Per row: log-sum-exp of its logits, set by the forward pass (0 for rows not counted).
    lse: OnceLock<Vec<f32>>,
    /// With `unit_grad`, per counted row (in order): `W_t − Σ_v softmax_v W_v`, the gradient of
    /// its log-prob in `hidden`; empty otherwise.
    unit: OnceLock<Vec<f32>>,
}

/// A row's running log-sum-exp over the chunks seen so far, and its target's logit.
#[derive(Clone, Copy)]
struct Running {
    max: f32,
    sum: f32,
    target: f32,
}

/// Calls `f` with the f32 elements of contiguous CPU tensor `t`, without copying them.
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("{NAME}: CPU only");
    };
    Ok(f(f32_slice(cpu, layout, NAME)?))
}

/// The rows of `(n, d)` f32 `h` listed in `rows`, as `(rows.len(), d)`.
fn gather_rows(h: &[f32], d: usize, rows: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * d);
    for &i in rows {
        out.extend_from_slice(&h[i * d..(i + 1) * d]);
    }
    out
}

impl FusedCrossEntropy {
    /// `(start, columns)` of each vocabulary chunk.
    fn chunks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let vocab = self.weight.dims()[0];
        (0..vocab).step_by(self.chunk).map(move |v0| (v0, self.chunk.min(vocab - v0)))
    }
}

impl CustomOp2 for FusedCrossEntropy {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, hs: &CpuStorage, hl: &Layout, _ws: &CpuStorage, _wl: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let h = f32_slice(hs, hl, NAME)?;
        let (n, d) = (self.counted.len(), self.weight.dims()[1]);
        let rows: Vec<usize> = (0..n).filter(|&i| self.counted[i]).collect();
        let mut out = vec![0f32; n];
        let mut lse = vec![0f32; n];
        let mut unit = Vec::new();
        if !rows.is_empty() {
            let h_rows = gather_rows(h, d, &rows);
            let h_rows = MatRef::new(&h_rows, rows.len(), d);
            let (w_s, w_l) = self.weight.storage_and_layout();
            let w = storage_f32(&w_s, w_l, NAME)?;
            let targets: Vec<u32> = rows.iter().map(|&i| self.targets[i]).collect();
            let mut state = vec![Running { max: f32::NEG_INFINITY, sum: 0.0, target: 0.0 }; rows.len()];
            // Σ_v exp(z_v − max) W_v per row, rescaled whenever the row's max rises, as
            // FlashAttention accumulates its output.
            let mut expected = if self.unit_grad { vec![0f32; rows.len() * d] } else { Vec::new() };
            let mut z = vec![0f32; rows.len() * self.chunk];
            for (v0, cols) in self.chunks() {
                // (rows, cols): this chunk's logits, then (with unit_grad) their exp(z − max).
                let z = &mut z[..rows.len() * cols];
                let w_chunk = MatRef::new(&w[v0 * d..(v0 + cols) * d], cols, d);
                matmul_into(z, false, h_rows, w_chunk.t(), 1.0);
                let write_exp = self.unit_grad;
                let update = |s: &mut Running, z: &mut [f32], t: u32| -> f32 {
                    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut rescale = 1.0;
                    if m > s.max {
                        rescale = (s.max - m).exp();
                        s.sum *= rescale;
                        s.max = m;
                    }
                    let t = t as usize;
                    if (v0..v0 + cols).contains(&t) {
                        s.target = z[t - v0];
                    }
                    let mut chunk_sum = 0.0;
                    for v in z.iter_mut() {
                        let p = (*v - s.max).exp();
                        if write_exp {
                            *v = p;
                        }
                        chunk_sum += p;
                    }
                    s.sum += chunk_sum;
                    rescale
                };
                if self.unit_grad {
                    state.par_iter_mut().zip(z.par_chunks_mut(cols)).zip(&targets).zip(expected.par_chunks_mut(d)).for_each(|(((s, z), &t), e)| {
                        let rescale = update(s, z, t);
                        if rescale != 1.0 {
                            e.iter_mut().for_each(|e| *e *= rescale);
                        }
                    });
                    matmul_into(&mut expected, true, MatRef::new(z, rows.len(), cols), w_chunk, 1.0);
                } else {
                    state.par_iter_mut().zip(z.par_chunks_mut(cols)).zip(&targets).for_each(|((s, z), &t)| {
                        update(s, z, t);
                    });
                }
            }
            for (&i, s) in rows.iter().zip(&state) {
                lse[i] = s.max + s.sum.ln();
                out[i] = s.target - lse[i];
            }
            if self.unit_grad {
                // W_t − E_softmax[W]: the hidden state's gradient per unit of upstream gradient.
                unit = expected;
                unit.par_chunks_mut(d).zip(&state).zip(&targets).for_each(|((u, s), &t)| {
                    let w_t = &w[t as usize * d..(t as usize + 1) * d];
                    for (u, &w) in u.iter_mut().zip(w_t) {
                        *u = w - *u / s.sum;
                    }
                });
            }
        }
        // A second forward through the same op value cannot happen (candle builds a new op per
        // call), so the sets always succeed.
        let _ = self.lse.set(lse);
        let _ = self.unit.set(unit);
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }

    fn bwd(&self, h: &Tensor, w: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let Some(lse) = self.lse.get() else {
            candle_core::bail!("{NAME}: backward before forward");
        };
        let (n, d) = (self.counted.len(), self.weight.dims()[1]);
        let vocab = self.weight.dims()[0];
        let g = grad.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        let rows: Vec<usize> = (0..n).filter(|&i| self.counted[i] && g[i] != 0.0).collect();
        let train_w = w.track_op();
        if let Some(unit) = self.unit.get().filter(|u| !u.is_empty() && !train_w) {
            // The forward pass left each counted row's gradient per unit of `g`: scale it.
            let mut dh = vec![0f32; n * d];
            let counted = (0..n).filter(|&i| self.counted[i]);
            for (i, u) in counted.zip(unit.chunks(d)) {
                if g[i] != 0.0 {
                    dh[i * d..(i + 1) * d].iter_mut().zip(u).for_each(|(dh, &u)| *dh = g[i] * u);
                }
            }
            return Ok((Some(Tensor::from_vec(dh, (n, d), &Device::Cpu)?), None));
        }
        if rows.is_empty() {
            let dw = if train_w { Some(w.zeros_like()?) } else { None };
            return Ok((Some(h.zeros_like()?), dw));
        }
        let h_rows = with_f32(&h.detach(), |h| gather_rows(h, d, &rows))?;
        let h_rows = Tensor::from_vec(h_rows, (rows.len(), d), &Device::Cpu)?;
        let row_g: Vec<f32> = rows.iter().map(|&i| g[i]).collect();
        let row_lse: Vec<f32> = rows.iter().map(|&i| lse[i]).collect();
        let targets: Vec<u32> = rows.iter().map(|&i| self.targets[i]).collect();
        let mut dh_rows: Option<Tensor> = None;
        let mut dw = if train_w { vec![0f32; vocab * d] } else { Vec::new() };
        for (v0, cols) in self.chunks() {
            let w_chunk = self.weight.narrow(0, v0, cols)?;
            let mut dz = h_rows.matmul(&w_chunk.t()?)?.flatten_all()?.to_vec1::<f32>()?;
            dz.par_chunks_mut(cols).enumerate().for_each(|(r, z)| {
                let (g, lse) = (row_g[r], row_lse[r]);
                for v in z.iter_mut() {
                    *v = -g * (*v - lse).exp();
                }
                let t = targets[r] as usize;
                if (v0..v0 + cols).contains(&t) {
                    z[t - v0] += g;
                }
            });
            let dz = Tensor::from_vec(dz, (rows.len(), cols), &Device::Cpu)?;
            let dh = dz.matmul(&w_chunk)?;
            dh_rows = Some(match dh_rows {
                Some(acc) => (acc + dh)?,
                None => dh,
            });
            if train_w {
                // (cols, d): this chunk's rows of dW, written in place.
                let dw_chunk = dz.t()?.matmul(&h_rows)?;
                with_f32(&dw_chunk, |c| dw[v0 * d..(v0 + cols) * d].copy_from_slice(c))?;
            }
        }
        let mut dh = vec![0f32; n * d];
        if let Some(dh_rows) = dh_rows {
            with_f32(&dh_rows, |src| {
                for (k, &i) in rows.iter().enumerate() {
                    dh[i * d..(i + 1) * d].copy_from_slice(&src[k * d..(k + 1) * d]);
                }
            })?;
        }
        let dh = Tensor::from_vec(dh, (n, d), &Device::Cpu)?;
        let dw = if train_w { Some(Tensor::from_vec(dw, (vocab, d), &Device::Cpu)?) } else { None };
        Ok((Some(dh), dw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Var, D};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The composed reference: full logits, log-softmax, gather, zeroed where not counted.
    fn composed(h: &Tensor, w: &Tensor, targets: &[u32], counted: &[bool]) -> Tensor {
        let logits = h.matmul(&w.t().unwrap()).unwrap();
        let lp = candle_nn::ops::log_softmax(&logits, D::Minus1).unwrap();
        let t = Tensor::new(targets, &Device::Cpu).unwrap().unsqueeze(1).unwrap();
        let picked = lp.gather(&t, 1).unwrap().squeeze(1).unwrap();
        let mask: Vec<f32> = counted.iter().map(|&c| if c { 1.0 } else { 0.0 }).collect();
        (picked * Tensor::new(mask, &Device::Cpu).unwrap()).unwrap()
    }

    fn max_abs(t: &Tensor) -> f32 {
        t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
    }

    /// Compares values and gradients (`dh`, and `dW` when `train_w`) against the composed
    /// version, with a random upstream gradient per row.
    fn check(n: usize, d: usize, vocab: usize, chunk: usize, train_w: bool, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let dev = &Device::Cpu;
        let h = Var::from_tensor(&Tensor::randn(0f32, 1.0, (n, d), dev).unwrap()).unwrap();
        let w_t = Tensor::randn(0f32, 0.5, (vocab, d), dev).unwrap();
        let w_var = Var::from_tensor(&w_t).unwrap();
        let w = if train_w { w_var.as_tensor().clone() } else { w_t.clone() };
        let targets: Vec<u32> = (0..n).map(|_| rng.random_range(0..vocab as u32)).collect();
        let counted: Vec<bool> = (0..n).map(|i| i % 3 != 1).collect();
        let probe = Tensor::randn(0f32, 1.0, n, dev).unwrap();

        let fused = target_log_probs_chunked(h.as_tensor(), &w, &targets, &counted, chunk).unwrap();
        let reference = composed(h.as_tensor(), &w, &targets, &counted);
        let scale = max_abs(&reference).max(1.0);
        let diff = max_abs(&(&fused - &reference).unwrap());
        assert!(diff <= 1e-5 * scale, "log-probs differ by {diff} (n {n}, d {d}, vocab {vocab}, chunk {chunk})");
        for (i, c) in counted.iter().enumerate() {
            if !c {
                assert_eq!(fused.get(i).unwrap().to_scalar::<f32>().unwrap(), 0.0);
            }
        }

        let g1 = (fused * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (reference * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let mut vars = vec![h.as_tensor()];
        if train_w {
            vars.push(w_var.as_tensor());
        } else {
            assert!(g1.get(&w).is_none(), "no gradient for a frozen head");
        }
        for v in vars {
            let (a, b) = (g1.get(v).unwrap(), g2.get(v).unwrap());
            let diff = max_abs(&(a - b).unwrap());
            let scale = max_abs(b).max(1e-3);
            assert!(diff <= 1e-5 * scale.max(1.0), "gradient of {:?} differs by {diff} (scale {scale})", v.dims());
        }
    }

    #[test]
    fn log_probs_and_hidden_gradient_equal_the_composed_version_with_a_frozen_head() {
        check(1, 8, 5, 5, false, 1);
        check(37, 24, 101, 16, false, 2);
        check(64, 33, 1000, 257, false, 3);
        check(5, 17, 300, 1000, false, 4);
    }

    #[test]
    fn log_probs_and_both_gradients_equal_the_composed_version_with_a_trained_head() {
        check(37, 24, 101, 16, true, 5);
        check(50, 19, 523, 64, true, 6);
        check(3, 8, 7, 1, true, 7);
    }

    #[test]
    fn large_logits_do_not_overflow() {
        let dev = &Device::Cpu;
        let h = Var::from_tensor(&(Tensor::randn(0f32, 1.0, (6, 4), dev).unwrap() * 300.0).unwrap()).unwrap();
        let w = Tensor::randn(0f32, 1.0, (50, 4), dev).unwrap();
        let targets = [0u32, 7, 13, 49, 2, 31];
        let counted = [true; 6];
        let fused = target_log_probs_chunked(h.as_tensor(), &w, &targets, &counted, 9).unwrap();
        let reference = composed(h.as_tensor(), &w, &targets, &counted);
        let values = fused.to_vec1::<f32>().unwrap();
        assert!(values.iter().all(|v| v.is_finite() && *v <= 0.0), "{values:?}");
        let diff = max_abs(&(&fused - &reference).unwrap());
        assert!(diff <= 1e-5 * max_abs(&reference).max(1.0), "{diff}");
        // The running softmax expectation is rescaled as the max rises chunk by chunk.
        let (g1, g2) = (fused.sum_all().unwrap().backward().unwrap(), reference.sum_all().unwrap().backward().unwrap());
        let (a, b) = (g1.get(h.as_tensor()).unwrap(), g2.get(h.as_tensor()).unwrap());
        assert!(max_abs(&(a - b).unwrap()) <= 1e-5 * max_abs(b).max(1.0), "{a} {b}");
    }

    #[test]
    fn no_row_counted_gives_zeros_and_zero_gradients() {
        let dev = &Device::Cpu;
        let h = Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 8), dev).unwrap()).unwrap();
        let w = Tensor::randn(0f32, 1.0, (20, 8), dev).unwrap();
        let out = target_log_probs(h.as_tensor(), &w, &[1, 2, 3, 4], &[false; 4]).unwrap();
        assert_eq!(out.to_vec1::<f32>().unwrap(), vec![0.0; 4]);
        let grads = out.sum_all().unwrap().backward().unwrap();
        assert_eq!(max_abs(grads.get(h.as_tensor()).unwrap()), 0.0);
    }

    #[test]
    fn a_target_outside_the_vocabulary_is_an_error() {
        let dev = &Device::Cpu;
        let h = Tensor::zeros((2, 4), DType::F32, dev).unwrap();
        let w = Tensor::zeros((10, 4), DType::F32, dev).unwrap();
        let err = target_log_probs(&h, &w, &[3, 10], &[true, true]).unwrap_err().to_string();
        assert!(err.contains("target 10 of row 1"), "{err}");
        assert!(target_log_probs(&h, &w, &[3, 10], &[true, false]).is_ok(), "an uncounted row's target is not read");
    }
}
