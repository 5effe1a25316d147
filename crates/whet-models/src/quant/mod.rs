//! Frozen base weights stored in 8 or 4 bits for QLoRA, dequantised on the fly.
//!
//! `nf4.rs` is bitsandbytes' NF4 with double-quantised scales (what QLoRA means by 4-bit);
//! `int8.rs` is bitsandbytes' LLM.int8 row-wise storage. Both are checked against bitsandbytes'
//! own output in `tests/golden/quant` (generator `reference/make_quant_goldens.py`).
//!
//! A [`QuantizedWeight`] holds only the packed form; [`QuantizedWeight::dequantize`] rebuilds an
//! f32 tensor each time it is needed (forward, and again in the backward of the frozen-weight
//! op), so at most the weights of the projection in flight exist in f32 at once.

pub mod dynamic;
pub mod int8;
pub mod nf4;

use candle_core::{Device, Tensor};

use crate::error::Result;

/// Dequantising builds a candle tensor; its errors are candle's.
type CandleResult<T> = candle_core::Result<T>;

/// How base weights are stored: `[lora] quantize = "nf4" | "int8"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantKind {
    Nf4,
    Int8,
}

impl QuantKind {
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "nf4" => Ok(Self::Nf4),
            "int8" => Ok(Self::Int8),
            other => Err(format!("`{other}` is not a supported quantisation (use \"nf4\" or \"int8\")")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Nf4 => "nf4",
            Self::Int8 => "int8",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Storage {
    Nf4(nf4::Nf4),
    Int8(int8::Int8),
}

/// A frozen `(out, in)` weight in its quantised form.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedWeight {
    pub out_dim: usize,
    pub in_dim: usize,
    storage: Storage,
}

impl QuantizedWeight {
    /// Quantises a 2-D weight (any float dtype; read as f32).
    pub fn quantize(weight: &Tensor, kind: QuantKind) -> Result<Self> {
        let (out_dim, in_dim) = weight.dims2()?;
        let values = weight.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let storage = match kind {
            QuantKind::Nf4 => Storage::Nf4(nf4::Nf4::quantize(&values)),
            QuantKind::Int8 => Storage::Int8(int8::Int8::quantize(&values, out_dim, in_dim)),
        };
        Ok(Self { out_dim, in_dim, storage })
    }

    pub fn kind(&self) -> QuantKind {
        match self.storage {
            Storage::Nf4(_) => QuantKind::Nf4,
            Storage::Int8(_) => QuantKind::Int8,
        }
    }

    /// The weight in f32, `(out, in)`, freshly allocated.
    pub fn dequantize(&self) -> CandleResult<Tensor> {
        let values = match &self.storage {
            Storage::Nf4(q) => q.dequantize(),
            Storage::Int8(q) => q.dequantize(),
        };
        Tensor::from_vec(values, (self.out_dim, self.in_dim), &Device::Cpu)
    }

    /// Bytes of the stored form.
    pub fn bytes(&self) -> usize {
        match &self.storage {
            Storage::Nf4(q) => q.bytes(),
            Storage::Int8(q) => q.bytes(),
        }
    }
}
