//! `Proj`: the one linear projection type every model layer uses (`y = x Wᵀ + b`, with `W` of
//! shape `(out, in)` as checkpoints store it), optionally with a LoRA adapter
//! (`y += scale · (x Aᵀ) Bᵀ`, as PEFT's `lora.Linear` computes it).
//!
//! It is the single place where adapters and frozen-weight kernels live, so models never call
//! matmul on a weight directly. In a training graph through a frozen weight (LoRA), the product
//! goes through `frozen_linear`, which computes no weight gradient.
//!
//! Outside a training graph, the few rows of a decoding step go through the GEMV kernel (`gemv.rs`,
//! f32 or bf16 weights), which reads each weight once where gemm packs it first.
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
use crate::frozen_linear::frozen_linear;
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

#[derive(Debug)]
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
        Ok((x.matmul(&self.a.t()?)?.matmul(&self.b.t()?)? * self.scale)?)
    }
}

#[derive(Debug, Clone)]
pub struct Proj {
    pub weight: Tensor,
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
        Ok(Self { weight, bias, lora: None })
    }

    pub fn out_dim(&self) -> usize {
        self.weight.dims()[0]
    }

    pub fn in_dim(&self) -> usize {
        self.weight.dims()[1]
    }

    /// `x` of shape `(..., in)` to `(..., out)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut shape = x.dims().to_vec();
        let in_dim = shape.pop().unwrap_or(1);
        let rows = shape.iter().product::<usize>();
        // Flatten to 2-D so gemm sees one large matmul against the transposed weight view.
        let x = x.reshape((rows, in_dim))?;
        let f32 = |t: &Tensor| t.to_dtype(DType::F32);
        let reduced = self.weight.dtype() != DType::F32;
        let gemv_dtype = matches!(self.weight.dtype(), DType::F32 | DType::BF16);
        let mut y = if !reduced && x.track_op() && !self.weight.is_variable() {
            // Training through a frozen weight: skip the weight's gradient.
            frozen_linear(&x, &self.weight)?
        } else if gemv_dtype && rows <= gemv::MAX_ROWS && !x.track_op() && !self.weight.is_variable() {
            // A decoding step (no graph): stream the weights once.
            gemv::gemv(&x, &self.weight)?
        } else if !reduced {
            x.matmul(&self.weight.t()?)?
        } else {
            f32(&x)?.matmul(&f32(&self.weight)?.t()?)?
        };
        if let Some(b) = &self.bias {
            y = y.broadcast_add(&f32(b)?)?;
        }
        if let Some(lora) = &self.lora {
            y = (y + lora.forward(&f32(&x)?)?)?;
        }
        if reduced {
            y = y.to_dtype(x.dtype())?;
        }
        shape.push(self.out_dim());
        Ok(y.reshape(shape)?)
    }

    /// Folds the adapter into the weight (`W += scale · B A`) and drops it.
    pub fn merge(&mut self) -> Result<()> {
        if let Some(lora) = self.lora.take() {
            let dtype = self.weight.dtype();
            self.weight = (self.weight.to_dtype(DType::F32)? + lora.delta()?)?.to_dtype(dtype)?;
        }
        Ok(())
    }

    /// Takes a merged adapter back out of the weight (`W -= scale · B A`) and re-attaches it.
    pub fn unmerge(&mut self, lora: Lora) -> Result<()> {
        let dtype = self.weight.dtype();
        self.weight = (self.weight.to_dtype(DType::F32)? - lora.delta()?)?.to_dtype(dtype)?;
        self.lora = Some(lora);
        Ok(())
    }
}
