//! `Proj`: the one linear projection type every model layer uses (`y = x Wᵀ + b`, with `W` of
//! shape `(out, in)` as checkpoints store it), optionally with a LoRA adapter
//! (`y += scale · (x Aᵀ) Bᵀ`, as PEFT's `lora.Linear` computes it).
//!
//! It is the single place where adapters and frozen-weight kernels live, so models never call
//! matmul on a weight directly. On the CPU in f32, training products go through custom ops with
//! their own backward passes: a LoRA adapter on a frozen weight through `lora_linear` (base and
//! low-rank products in one op; also for untracked passes over many rows, so a DPO reference
//! scores what its policy scores), a frozen weight alone through `frozen_linear` (no weight
//! gradient), a trained weight (full fine-tuning) through `linear` (its gradient in its own
//! layout).
//!
//! Outside a training graph, the few rows of a decoding step go through the GEMV kernel (`gemv.rs`,
//! f32 or bf16 weights), which reads each weight once where gemm packs it first.
//!
//! A projection can hold its weight quantised (`quant/`: NF4 or LLM.int8, for QLoRA): then
//! `quantized` holds the packed form and `weight` is only a placeholder with the shape and dtype
//! (a zero-stride view of one f32 zero). Every forward dequantises the weight to f32 and drops it
//! after the product; in a training graph, `frozen_linear::quantized_linear` dequantises it again
//! in the backward pass, so at most one projection's weight exists in f32 at a time.
//!
//! With bf16/f16 weights the product is computed in f32 (by the GEMV kernel for the few
//! rows of a decoding step, else by widening to an f32 GEMM), the bias and any LoRA term added in
//! f32, and the result rounded once, as PyTorch's `addmm` does; rounding the product before
//! adding the bias moved bf16 logits of the golden Qwen2 model from 1.9e-2 to 4.5e-2 away from
//! transformers'. (candle's CPU bf16 matmul widens to f32 internally anyway.)

use std::sync::{Arc, Mutex};

use candle_core::{DType, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::gemv;
use crate::frozen_linear::{frozen_linear, quantized_linear};
use crate::linear::linear;
use crate::lora_linear::{lora_linear, BaseWeight};
use crate::quant::{QuantKind, QuantizedWeight};
use crate::error::Result;
use crate::weights::Weights;

/// A low-rank update: `A` of shape `(r, in)`, `B` of shape `(out, r)`, both f32.
#[derive(Debug, Clone)]
pub struct Lora {
    pub a: Tensor,
    pub b: Tensor,
    /// `alpha / r`, or `alpha / sqrt(r)` with rsLoRA.
    pub scale: f64,
    /// Dropout on the adapter's input during training (`B A dropout(x)`, as PEFT applies it).
    pub dropout: Option<LoraDropout>,
}

/// LoRA dropout with a generator shared by every adapter of a model. The training loop reseeds
/// it each step and switches it on only while computing gradients, so masks are reproducible
/// (a resumed run draws the same ones) and evaluation never drops anything.
#[derive(Debug, Clone)]
pub struct LoraDropout {
    pub p: f32,
    pub state: Arc<Mutex<DropoutState>>,
}

#[derive(Debug, Clone)]
pub struct DropoutState {
    pub rng: StdRng,
    pub active: bool,
}

impl DropoutState {
    pub fn new(seed: u64) -> Self {
        Self { rng: StdRng::seed_from_u64(seed), active: false }
    }
}

impl LoraDropout {
    /// Whether [`LoraDropout::apply`] would drop anything now.
    fn is_active(&self) -> bool {
        self.p > 0.0 && self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).active
    }

    /// `x` with each element zeroed with probability `p` and the rest scaled by `1/(1-p)`,
    /// when active; `x` unchanged otherwise.
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !state.active || self.p <= 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| if state.rng.random::<f32>() < keep { 1.0 / keep } else { 0.0 })
            .collect();
        Ok((x * Tensor::from_vec(mask, x.shape(), x.device())?)?)
    }
}

impl Lora {
    pub fn rank(&self) -> usize {
        self.a.dims()[0]
    }

    /// `scale · B A`, shape `(out, in)`, f32: what merging adds to the weight.
    pub fn delta(&self) -> Result<Tensor> {
        Ok((self.b.matmul(&self.a)? * self.scale)?)
    }

    /// `scale · (dropout(x) Aᵀ) Bᵀ` for 2-D f32 `x`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = match &self.dropout {
            Some(d) => d.apply(x)?,
            None => x.clone(),
        };
        let frozen = !x.track_op() && !self.a.is_variable() && !self.b.is_variable();
        if frozen && x.dim(0)? <= gemv::MAX_ROWS {
            // A decoding step: two GEMVs cost a fraction of two small gemm calls, which pack
            // their operands first (on the bundled model, 210 adapted projections per token).
            return Ok((gemv::gemv(&gemv::gemv(&x, &self.a)?, &self.b)? * self.scale)?);
        }
        Ok((x.matmul(&self.a.t()?)?.matmul(&self.b.t()?)? * self.scale)?)
    }
}

#[derive(Debug, Clone)]
pub struct Proj {
    /// `(out, in)`; a placeholder when `quantized` is set (use [`Proj::dense_weight`]).
    pub weight: Tensor,
    /// The frozen weight in 8 or 4 bits (QLoRA), dequantised on every use.
    pub quantized: Option<Arc<QuantizedWeight>>,
    pub bias: Option<Tensor>,
    pub lora: Option<Lora>,
}

impl Proj {
    /// Loads `{prefix}.weight` of shape `(out_dim, in_dim)` and, if `bias`, `{prefix}.bias`.
    pub fn load(w: &mut Weights, prefix: &str, in_dim: usize, out_dim: usize, bias: bool) -> Result<Self> {
        let weight = w.get(&format!("{prefix}.weight"), &[out_dim, in_dim])?;
        let bias = if bias {
            Some(w.get(&format!("{prefix}.bias"), &[out_dim])?)
        } else {
            None
        };
        Ok(Self { weight, quantized: None, bias, lora: None })
    }

    /// A projection over an existing weight, unquantised, without bias or adapter.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, quantized: None, bias, lora: None }
    }

    /// Replaces the weight by its quantised form (the f32 weight is dropped).
    pub fn quantize(&mut self, kind: QuantKind) -> Result<()> {
        let q = QuantizedWeight::quantize(&self.weight, kind)?;
        let (out_dim, in_dim) = (q.out_dim, q.in_dim);
        self.quantized = Some(Arc::new(q));
        // Keeps the shape for out_dim/in_dim without holding the values.
        self.weight = Tensor::zeros((), DType::F32, self.weight.device())?.broadcast_as((out_dim, in_dim))?;
        Ok(())
    }

    /// The weight as a tensor: itself, or dequantised to f32.
    pub fn dense_weight(&self) -> Result<Tensor> {
        match &self.quantized {
            Some(q) => Ok(q.dequantize()?),
            None => Ok(self.weight.clone()),
        }
    }

    /// Turns a quantised projection back into a plain f32 one (its dequantised weight).
    pub fn dequantize(&mut self) -> Result<()> {
        if self.quantized.is_some() {
            self.weight = self.dense_weight()?;
            self.quantized = None;
        }
        Ok(())
    }

    pub fn out_dim(&self) -> usize {
        self.weight.dims()[0]
    }

    pub fn in_dim(&self) -> usize {
        self.weight.dims()[1]
    }

    /// `x` of shape `(..., in)` to `(..., out)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if let Some(lora) = self.lora.as_ref().filter(|l| self.uses_lora_linear(l, x)) {
            return self.forward_lora_linear(x, lora);
        }
        self.apply(x, |x, y| match &self.lora {
            Some(lora) => Ok((y + lora.forward(x)?)?),
            None => Ok(y),
        })
    }

    /// A batch whose rows use different adapters, for a server batching requests of several
    /// adapters into one step: `runs` splits the rows of `x` (flattened to 2-D) into consecutive
    /// runs of `runs[i].0` rows, each with adapter `runs[i].1` (`None`: the base weight alone;
    /// the projection's own adapter is not used). The base product is computed once for all
    /// rows, so the weight is read once; each run adds its own low-rank term, as LoRAX and
    /// vLLM's multi-LoRA kernels do. Row for row this is [`Proj::forward`] with that run's
    /// adapter attached.
    pub fn forward_runs(&self, x: &Tensor, runs: &[(usize, Option<&Lora>)]) -> Result<Tensor> {
        self.apply(x, |x, y| {
            let rows = x.dim(0)?;
            if runs.iter().map(|r| r.0).sum::<usize>() != rows {
                return Err(crate::error::Error::Generation(format!("adapter runs do not cover the batch's {rows} rows")));
            }
            if runs.iter().all(|r| r.1.is_none()) {
                return Ok(y);
            }
            let mut parts = Vec::with_capacity(runs.len());
            let mut start = 0;
            for &(n, lora) in runs {
                let part = y.narrow(0, start, n)?;
                parts.push(match lora {
                    Some(lora) => (part + lora.forward(&x.narrow(0, start, n)?)?)?,
                    None => part,
                });
                start += n;
            }
            Ok(Tensor::cat(&parts, 0)?)
        })
    }

    /// Whether this product goes through `lora_linear`: an adapter on a frozen f32 (or quantised)
    /// weight on the CPU, without active dropout, being trained or over more rows than a
    /// decoding step's. Passes without a graph over many rows (a DPO reference holding a frozen
    /// copy of the adapter, evaluation, prefill) take the training kernel too, so a policy at
    /// its reference's weights scores exactly what the reference scores.
    fn uses_lora_linear(&self, lora: &Lora, x: &Tensor) -> bool {
        let f32_base = self.quantized.is_some() || self.weight.dtype() == DType::F32;
        let rows = x.elem_count() / x.dims().last().copied().unwrap_or(1).max(1);
        let trained = lora.a.is_variable() || lora.b.is_variable() || x.track_op();
        (trained || rows > gemv::MAX_ROWS)
            && !self.weight.is_variable()
            && f32_base
            && x.dtype() == DType::F32
            && x.device().is_cpu()
            && !lora.dropout.as_ref().is_some_and(LoraDropout::is_active)
    }

    /// [`Proj::forward`] through `lora_linear`, the bias added after the adapter.
    fn forward_lora_linear(&self, x: &Tensor, lora: &Lora) -> Result<Tensor> {
        let mut shape = x.dims().to_vec();
        let in_dim = shape.pop().unwrap_or(1);
        shape.push(self.out_dim());
        let base = match &self.quantized {
            Some(q) => BaseWeight::Quantized(q.clone()),
            None => BaseWeight::Dense(self.weight.clone()),
        };
        let mut y = lora_linear(&x.reshape(((), in_dim))?, base, &lora.a, &lora.b, lora.scale)?;
        if let Some(b) = &self.bias {
            y = y.broadcast_add(&b.to_dtype(DType::F32)?)?;
        }
        Ok(y.reshape(shape)?)
    }

    /// The product through the weight plus the bias, in f32 for reduced-precision weights,
    /// then `adapter(x, y)` (`x` flattened to 2-D, f32 where the weight is not), rounded once
    /// to the activation dtype and reshaped back.
    fn apply(&self, x: &Tensor, adapter: impl FnOnce(&Tensor, Tensor) -> Result<Tensor>) -> Result<Tensor> {
        let mut shape = x.dims().to_vec();
        let in_dim = shape.pop().unwrap_or(1);
        let rows = shape.iter().product::<usize>();
        shape.push(self.out_dim());
        // Flatten to 2-D so gemm sees one large matmul against the transposed weight view.
        let x = x.reshape((rows, in_dim))?;
        let f32 = |t: &Tensor| t.to_dtype(DType::F32);
        if let Some(q) = &self.quantized {
            let xf = f32(&x)?;
            let y = adapter(&xf, self.product_quantized(&xf, q, rows)?)?;
            return Ok(y.to_dtype(x.dtype())?.reshape(shape)?);
        }
        let reduced = self.weight.dtype() != DType::F32;
        let gemv_dtype = matches!(self.weight.dtype(), DType::F32 | DType::BF16);
        let mut y = if !reduced && x.track_op() && !self.weight.is_variable() {
            // Training through a frozen weight: skip the weight's gradient.
            frozen_linear(&x, &self.weight)?
        } else if gemv_dtype && rows <= gemv::MAX_ROWS && !x.track_op() && !self.weight.is_variable() {
            // A decoding step (no graph): stream the weights once.
            gemv::gemv(&x, &self.weight)?
        } else if !reduced && self.weight.is_variable() && x.device().is_cpu() {
            // Full fine-tuning: the weight's gradient in its own layout (`linear.rs`).
            linear(&x, &self.weight)?
        } else if !reduced {
            x.matmul(&self.weight.t()?)?
        } else {
            f32(&x)?.matmul(&f32(&self.weight)?.t()?)?
        };
        if let Some(b) = &self.bias {
            y = y.broadcast_add(&f32(b)?)?;
        }
        let mut y = if reduced { adapter(&f32(&x)?, y)? } else { adapter(&x, y)? };
        if reduced {
            y = y.to_dtype(x.dtype())?;
        }
        Ok(y.reshape(shape)?)
    }

    /// The f32 product and bias through a quantised weight.
    fn product_quantized(&self, x: &Tensor, q: &Arc<QuantizedWeight>, rows: usize) -> Result<Tensor> {
        let y = if x.track_op() {
            quantized_linear(x, q)?
        } else {
            let w = q.dequantize()?;
            if rows <= gemv::MAX_ROWS { gemv::gemv(x, &w)? } else { x.matmul(&w.t()?)? }
        };
        match &self.bias {
            Some(b) => Ok(y.broadcast_add(&b.to_dtype(DType::F32)?)?),
            None => Ok(y),
        }
    }

    /// Folds the adapter into the weight (`W += scale · B A`) and drops it. A quantised weight
    /// is dequantised first and stays f32 (re-quantising would round the update away).
    pub fn merge(&mut self) -> Result<()> {
        if self.lora.is_some() {
            self.dequantize()?;
        }
        if let Some(lora) = self.lora.take() {
            let dtype = self.weight.dtype();
            self.weight = (self.weight.to_dtype(DType::F32)? + lora.delta()?)?.to_dtype(dtype)?;
        }
        Ok(())
    }

    /// Takes a merged adapter back out of the weight (`W -= scale · B A`) and re-attaches it.
    pub fn unmerge(&mut self, lora: Lora) -> Result<()> {
        self.dequantize()?;
        let dtype = self.weight.dtype();
        self.weight = (self.weight.to_dtype(DType::F32)? - lora.delta()?)?.to_dtype(dtype)?;
        self.lora = Some(lora);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn lora(out: usize, inp: usize) -> (Var, Var, Lora) {
        let a = Var::from_tensor(&Tensor::randn(0f32, 0.1, (4, inp), &Device::Cpu).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.1, (out, 4), &Device::Cpu).unwrap()).unwrap();
        let l = Lora { a: a.as_tensor().clone(), b: b.as_tensor().clone(), scale: 2.0, dropout: None };
        (a, b, l)
    }

    #[test]
    fn quantized_proj_equals_the_dense_dequantised_proj_and_only_the_adapter_gets_gradients() {
        let w = Tensor::randn(0f32, 0.1, (11, 70), &Device::Cpu).unwrap();
        let bias = Tensor::randn(0f32, 0.1, 11, &Device::Cpu).unwrap();
        for kind in [QuantKind::Nf4, QuantKind::Int8] {
            let mut q = Proj::new(w.clone(), Some(bias.clone()));
            q.quantize(kind).unwrap();
            assert_eq!((q.out_dim(), q.in_dim()), (11, 70));
            let dense = Proj::new(q.dense_weight().unwrap(), Some(bias.clone()));
            // Inference: few rows (GEMV) and many rows (GEMM).
            for rows in [1, 9] {
                let x = Tensor::randn(0f32, 1.0, (rows, 70), &Device::Cpu).unwrap();
                let (a, b) = (q.forward(&x).unwrap(), dense.forward(&x).unwrap());
                assert_eq!(a.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap(), "{kind:?} rows {rows}");
            }
            // Training: the adapter's gradients through the quantised weight equal the dense ones.
            let (va, vb, l) = lora(11, 70);
            let (mut qa, mut da) = (q.clone(), dense.clone());
            qa.lora = Some(l.clone());
            da.lora = Some(l);
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 3, 70), &Device::Cpu).unwrap()).unwrap();
            let gq = qa.forward(x.as_tensor()).unwrap().sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let gd = da.forward(x.as_tensor()).unwrap().sqr().unwrap().sum_all().unwrap().backward().unwrap();
            for v in [&va, &vb, &x] {
                let (g1, g2) = (gq.get(v.as_tensor()).unwrap(), gd.get(v.as_tensor()).unwrap());
                let d = (g1 - g2).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(d < 1e-4, "{kind:?}: gradient differs by {d}");
            }
            assert!(gq.get(&q.weight).is_none(), "no gradient for the quantised weight");
        }
    }

    #[test]
    fn a_trained_adapter_and_a_frozen_copy_give_the_same_bits() {
        // A DPO policy (trainable adapter) and its reference (a frozen copy) at the same weights:
        // the same outputs bit for bit, so the first step's reward margins are exactly 0.
        let w = Tensor::randn(0f32, 0.1, (11, 70), &Device::Cpu).unwrap();
        // A scale that is not a power of two, so that its products round.
        let (_, _, trained) = lora(11, 70);
        let trained = Lora { scale: 2.5, ..trained };
        let frozen = Lora { a: trained.a.detach(), b: trained.b.detach(), ..trained.clone() };
        let x = Tensor::randn(0f32, 1.0, (3, 9, 70), &Device::Cpu).unwrap();
        let (mut policy, mut reference) = (Proj::new(w.clone(), None), Proj::new(w, None));
        policy.lora = Some(trained);
        reference.lora = Some(frozen);
        let (p, r) = (policy.forward(&x).unwrap(), reference.forward(&x).unwrap());
        assert_eq!(p.flatten_all().unwrap().to_vec1::<f32>().unwrap(), r.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    }

    #[test]
    fn merging_into_a_quantised_weight_dequantises_it() {
        let w = Tensor::randn(0f32, 0.1, (6, 64), &Device::Cpu).unwrap();
        let mut p = Proj::new(w, None);
        p.quantize(QuantKind::Nf4).unwrap();
        let base = p.dense_weight().unwrap();
        let (_, _, l) = lora(6, 64);
        let delta = l.delta().unwrap();
        p.lora = Some(l);
        p.merge().unwrap();
        assert!(p.quantized.is_none() && p.lora.is_none());
        let d = (p.weight - (base + delta).unwrap()).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(d < 1e-6, "{d}");
    }
}
