//! Contiguous f32 views of CPU storage, for the custom ops that give candle's missing backward
//! passes (`rms_norm.rs`, `rope.rs`, `softmax.rs`, …).

use candle_core::{CpuStorage, Layout};

/// The f32 elements `layout` covers, which must be contiguous.
pub fn f32_slice<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op}: expects f32 input");
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// The f32 elements of a contiguous tensor's storage (from `Tensor::storage_and_layout`), which
/// must be on the CPU: for custom ops' backward passes, which receive tensors.
pub fn storage_f32<'a>(storage: &'a candle_core::Storage, layout: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let candle_core::Storage::Cpu(cpu) = storage else {
        candle_core::bail!("{op}: CPU only");
    };
    f32_slice(cpu, layout, op)
}
