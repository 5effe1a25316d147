//! `Proj`: the one linear projection type every model layer uses (`y = x Wᵀ + b`, with `W` of
//! shape `(out, in)` as checkpoints store it).
//!
//! It is the single place where later work adds LoRA adapters and frozen-weight kernels, so
//! models never call matmul on a weight directly.

use candle_core::Tensor;

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
        let y = x.reshape((rows, in_dim))?.matmul(&self.weight.t()?)?;
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        shape.push(self.out_dim());
        Ok(y.reshape(shape)?)
    }
}
