//! `Proj`: the one linear projection type every model layer uses (`y = x Wᵀ + b`, with `W` of
//! shape `(out, in)` as checkpoints store it).
//!
//! It is the single place where later work adds LoRA adapters and frozen-weight kernels, so
//! models never call matmul on a weight directly.
//!
//! With bf16/f16 weights the product is computed in f32 (by the bf16 GEMV kernel for the few
//! rows of a decoding step, else by widening to an f32 GEMM), the bias added in f32, and the
//! result rounded once, as PyTorch's `addmm` does; rounding the product before adding the bias
//! moved bf16 logits of the golden Qwen2 model from 1.9e-2 to 4.5e-2 away from transformers'.
//! (candle's CPU bf16 matmul widens to f32 internally anyway.)

use candle_core::{DType, Tensor};

use crate::bf16_gemv;
use crate::error::Result;
use crate::weights::Weights;

#[derive(Debug, Clone)]
pub struct Proj {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
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
        Ok(Self { weight, bias })
    }

    pub fn out_dim(&self) -> usize {
        self.weight.dims()[0]
    }

    /// `x` of shape `(..., in)` to `(..., out)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut shape = x.dims().to_vec();
        let in_dim = shape.pop().unwrap_or(1);
        let rows = shape.iter().product::<usize>();
        // Flatten to 2-D so gemm sees one large matmul against the transposed weight view.
        let x = x.reshape((rows, in_dim))?;
        let y = if self.weight.dtype() == DType::F32 {
            let y = x.matmul(&self.weight.t()?)?;
            match &self.bias {
                Some(b) => y.broadcast_add(b)?,
                None => y,
            }
        } else {
            let f32 = |t: &Tensor| t.to_dtype(DType::F32);
            let y = if self.weight.dtype() == DType::BF16 && rows <= bf16_gemv::MAX_ROWS {
                bf16_gemv::bf16_gemv(&x, &self.weight)?
            } else {
                f32(&x)?.matmul(&f32(&self.weight)?.t()?)?
            };
            let y = match &self.bias {
                Some(b) => y.broadcast_add(&f32(b)?)?,
                None => y,
            };
            y.to_dtype(x.dtype())?
        };
        shape.push(self.out_dim());
        Ok(y.reshape(shape)?)
    }
}
