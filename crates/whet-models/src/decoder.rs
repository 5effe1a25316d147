//! The Llama-family decoder-only transformer that every supported `model_type` instantiates:
//! embeddings, pre-norm decoder layers (attention + SwiGLU MLP), final norm and LM head, after
//! `LlamaForCausalLM` in transformers' `modeling_llama.py`.
//!
//! Fields carry the checkpoint's key names (`embed_tokens`, `input_layernorm`, `q_proj`), so a
//! load error names the real key. Architecture differences live in the config (`llama.rs`,
//! `mistral.rs`, `qwen2.rs`), not in forked model code.
//!
//! Weights and activations are in the load dtype (f32, bf16 or f16); norms, attention scores and
//! logits are computed in f32.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, IndexOp, Tensor};

use crate::attention::{causal_mask, packed_mask, Attention, AttentionMask, Project};
use crate::checkpointing::{checkpointed_layer, CheckpointGrads};
use crate::config::{DecoderConfig, HfConfig};
use crate::error::{Error, Result};
use crate::flash_attention::Visibility;
use crate::kv_cache::KvCache;
use crate::proj::Proj;
use crate::quant::QuantKind;
use crate::rms_norm::RmsNorm;
use crate::rope::{Rope, RopeAngles};
use crate::row_adapters::RowAdapters;
use crate::weights::Weights;

/// Reads one architecture's HF config.
type ConfigReader = fn(&HfConfig) -> Result<DecoderConfig>;

/// The model types whet can load, with the function reading each one's config.
const ARCHITECTURES: &[(&str, ConfigReader)] = &[
    ("llama", crate::llama::config),
    ("mistral", crate::mistral::config),
    ("qwen2", crate::qwen2::config),
];

/// Attention masks by sliding window (`None`: no window).
type Masks = BTreeMap<Option<usize>, AttentionMask>;

/// RoPE tables are precomputed up to this many positions (they grow on demand past it).
const ROPE_TABLE_POSITIONS: usize = 4096;

/// The SwiGLU feed-forward block: `down(silu(gate(x)) * up(x))`.
#[derive(Debug, Clone)]
pub struct Mlp {
    pub gate_proj: Proj,
    pub up_proj: Proj,
    pub down_proj: Proj,
}

impl Mlp {
    fn load(w: &mut Weights, prefix: &str, cfg: &DecoderConfig) -> Result<Self> {
        let (h, i, bias) = (cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias);
        Ok(Self {
            gate_proj: Proj::load(w, &format!("{prefix}.gate_proj"), h, i, bias)?,
            up_proj: Proj::load(w, &format!("{prefix}.up_proj"), h, i, bias)?,
            down_proj: Proj::load(w, &format!("{prefix}.down_proj"), i, h, bias)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, &|p, x| p.forward(x))
    }

    /// [`Mlp::forward`] with each projection applied by `project`.
    fn forward_with(&self, x: &Tensor, project: &Project) -> Result<Tensor> {
        let hidden = crate::swiglu::swiglu(&project(&self.gate_proj, x)?, &project(&self.up_proj, x)?)?;
        project(&self.down_proj, &hidden)
    }
}

#[derive(Debug, Clone)]
pub struct DecoderLayer {
    pub input_layernorm: RmsNorm,
    pub self_attn: Attention,
    pub post_attention_layernorm: RmsNorm,
    pub mlp: Mlp,
}

impl DecoderLayer {
    /// How many projections a layer has.
    pub const PROJECTIONS: usize = 7;

    /// `x + attn(norm(x))`, then `+ mlp(norm(·))`, for `x` `(batch, seq, hidden)`; this layer's
    /// keys and values go to `cache` under `index`.
    pub fn forward(
        &self,
        x: &Tensor,
        angles: &RopeAngles,
        mask: &AttentionMask,
        cache: &mut KvCache,
        index: usize,
    ) -> Result<Tensor> {
        let attn = self.self_attn.forward(&self.input_layernorm.forward(x)?, angles, mask, cache, index)?;
        let x = (x + attn)?;
        let mlp = self.mlp.forward(&self.post_attention_layernorm.forward(&x)?)?;
        Ok((x + mlp)?)
    }

    /// Every tensor the layer computes with: norm weights, projection weights and biases,
    /// adapter matrices (what can be a trainable parameter).
    pub fn tensors(&self) -> Vec<&Tensor> {
        let mut out = vec![&self.input_layernorm.weight, &self.post_attention_layernorm.weight];
        for (_, p) in self.projections() {
            out.push(&p.weight);
            out.extend(&p.bias);
            if let Some(l) = &p.lora {
                out.extend([&l.a, &l.b]);
            }
        }
        out
    }

    /// The layer's projections with their paths relative to the layer.
    pub fn projections(&self) -> [(&'static str, &Proj); Self::PROJECTIONS] {
        let (a, m) = (&self.self_attn, &self.mlp);
        [
            ("self_attn.q_proj", &a.q_proj),
            ("self_attn.k_proj", &a.k_proj),
            ("self_attn.v_proj", &a.v_proj),
            ("self_attn.o_proj", &a.o_proj),
            ("mlp.gate_proj", &m.gate_proj),
            ("mlp.up_proj", &m.up_proj),
            ("mlp.down_proj", &m.down_proj),
        ]
    }

    pub fn projections_mut(&mut self) -> [(&'static str, &mut Proj); Self::PROJECTIONS] {
        let (a, m) = (&mut self.self_attn, &mut self.mlp);
        [
            ("self_attn.q_proj", &mut a.q_proj),
            ("self_attn.k_proj", &mut a.k_proj),
            ("self_attn.v_proj", &mut a.v_proj),
            ("self_attn.o_proj", &mut a.o_proj),
            ("mlp.gate_proj", &mut m.gate_proj),
            ("mlp.up_proj", &mut m.up_proj),
            ("mlp.down_proj", &mut m.down_proj),
        ]
    }
}

/// A causal language model: token ids in, next-token logits out.
#[derive(Debug, Clone)]
pub struct CausalLm {
    pub config: DecoderConfig,
    pub embed_tokens: Tensor,
    pub layers: Vec<DecoderLayer>,
    pub norm: RmsNorm,
    /// Shares `embed_tokens` when the embeddings are tied.
    pub lm_head: Proj,
    /// Whether [`CausalLm::next_token_log_probs`] goes through the chunked LM-head op
    /// (`fused_cross_entropy.rs`, never materialising the full logits) where it applies; else
    /// full logits and log-softmax. True unless a training config turns it off.
    pub fused_loss: bool,
    /// `Some(n)`: training passes (`next_token_log_probs`, `forward_packed`) checkpoint every
    /// `n`th decoder layer (`checkpointing.rs`, layers 0, n, 2n, …): only those layers' inputs
    /// are kept for the backward pass, which recomputes them. Gradients then come from
    /// [`CausalLm::backward`]. `None` unless a training config turns it on.
    pub gradient_checkpointing: Option<usize>,
    /// Parameter gradients of checkpointed layers, between a backward pass and its merge.
    checkpoint_grads: CheckpointGrads,
    /// Whether attention without a cached prefix (training, scoring, the prefill of a fresh
    /// cache) goes through the fused op (`flash_attention.rs`, never materialising the scores)
    /// when the model is f32 on the CPU; else scores, additive mask and softmax. True unless a
    /// training config turns it off.
    pub fused_attention: bool,
    rope: Rope,
}

impl CausalLm {
    /// Loads the model in `dir` (an HF model directory), converting weights to `dtype`.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        Self::open(dir, dtype, device, None)
    }

    /// Loads the model in `dir` in f32 with the projections of every decoder layer quantised
    /// (QLoRA's base), each layer as soon as it is read, so the f32 copy of at most one layer is
    /// held at a time. Embeddings, norms and `lm_head` stay f32, as bitsandbytes leaves them in
    /// transformers (`lm_head` is skipped by `get_keys_to_not_convert`; embeddings are not
    /// linear layers).
    pub fn load_quantized(dir: &Path, kind: QuantKind, device: &Device) -> Result<Self> {
        Self::open(dir, DType::F32, device, Some(kind))
    }

    fn open(dir: &Path, dtype: DType, device: &Device, quantize: Option<QuantKind>) -> Result<Self> {
        let config = read_config(dir)?;
        let mut w = Weights::open(dir, dtype, device)?;
        let model = Self::build(config, &mut w, quantize)?;
        let tied = model.config.tie_word_embeddings;
        let model_type = model.config.model_type.clone();
        // transformers ignores these: old checkpoints saved RoPE buffers, and some tied
        // checkpoints still carry a copy of the embeddings as lm_head.
        w.finish(&model_type, |key| {
            key.ends_with("rotary_emb.inv_freq") || (tied && key == "lm_head.weight")
        })?;
        Ok(model)
    }

    /// Bytes held by the weights of the decoder layers' projections (quantised or not).
    pub fn projection_weight_bytes(&self) -> usize {
        self.layers
            .iter()
            .flat_map(|l| l.projections())
            .map(|(_, p)| match &p.quantized {
                Some(q) => q.bytes(),
                None => p.weight.elem_count() * p.weight.dtype().size_in_bytes(),
            })
            .sum()
    }

    /// A freshly initialised model with the `config.json` of `dir` (weights there, if any, are
    /// not read): for pretraining from scratch. `config.json`'s `initializer_range` (default
    /// 0.02) is the std; the same seed gives the same weights.
    pub fn init_random(dir: &Path, seed: u64, device: &Device) -> Result<Self> {
        let config = read_config(dir)?;
        let hf = HfConfig::read(&dir.join("config.json"))?;
        let std = hf.opt_f64("initializer_range")?.unwrap_or(0.02) as f32;
        let mut w = Weights::random(dir, std, seed, DType::F32, device);
        Self::from_weights(config, &mut w)
    }

    /// Builds the model from already opened weights.
    pub fn from_weights(config: DecoderConfig, w: &mut Weights) -> Result<Self> {
        Self::build(config, w, None)
    }

    fn build(config: DecoderConfig, w: &mut Weights, quantize: Option<QuantKind>) -> Result<Self> {
        let (v, h) = (config.vocab_size, config.hidden_size);
        let embed_tokens = w.get("model.embed_tokens.weight", &[v, h])?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("model.layers.{i}");
                let mut layer = DecoderLayer {
                    input_layernorm: RmsNorm::load(w, &format!("{p}.input_layernorm"), h, config.rms_norm_eps)?,
                    self_attn: Attention::load(w, &format!("{p}.self_attn"), &config, i)?,
                    post_attention_layernorm: RmsNorm::load(
                        w,
                        &format!("{p}.post_attention_layernorm"),
                        h,
                        config.rms_norm_eps,
                    )?,
                    mlp: Mlp::load(w, &format!("{p}.mlp"), &config)?,
                };
                if let Some(kind) = quantize {
                    for (_, proj) in layer.projections_mut() {
                        proj.quantize(kind)?;
                    }
                }
                Ok(layer)
            })
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::load(w, "model.norm", h, config.rms_norm_eps)?;
        let lm_head = if config.tie_word_embeddings {
            Proj::new(embed_tokens.clone(), None)
        } else {
            Proj::load(w, "lm_head", h, v, false)?
        };
        let rope = Rope::new(&config, ROPE_TABLE_POSITIONS, w.device())?;
        Ok(Self {
            config,
            embed_tokens,
            layers,
            norm,
            lm_head,
            fused_loss: true,
            gradient_checkpointing: None,
            checkpoint_grads: CheckpointGrads::default(),
            fused_attention: true,
            rope,
        })
    }

    pub fn dtype(&self) -> DType {
        self.embed_tokens.dtype()
    }

    pub fn device(&self) -> &Device {
        self.embed_tokens.device()
    }

    /// Every projection with its checkpoint module path (`model.layers.0.self_attn.q_proj`),
    /// in checkpoint order; `lm_head` is left out when it is the tied embedding matrix.
    pub fn projections(&self) -> Vec<(String, &Proj)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            out.extend(layer.projections().map(|(n, p)| (format!("model.layers.{i}.{n}"), p)));
        }
        if !self.config.tie_word_embeddings {
            out.push(("lm_head".to_string(), &self.lm_head));
        }
        out
    }

    /// [`CausalLm::projections`], mutable.
    pub fn projections_mut(&mut self) -> Vec<(String, &mut Proj)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            out.extend(layer.projections_mut().map(|(n, p)| (format!("model.layers.{i}.{n}"), p)));
        }
        if !self.config.tie_word_embeddings {
            out.push(("lm_head".to_string(), &mut self.lm_head));
        }
        out
    }

    /// Runs `f` on the base model: every LoRA adapter is detached for the call and re-attached
    /// after it (the same tensors, so trainable `Var`s stay wired in). This is how DPO gets its
    /// reference model without a second copy of the weights, as PEFT's `disable_adapter()` does
    /// for TRL. Detaching is moving a few `Arc`s; nothing is copied.
    pub fn with_adapters_disabled<R>(&mut self, f: impl FnOnce(&Self) -> R) -> R {
        self.with_adapters(&[], f)
    }

    /// Runs `f` with `adapters[i]` attached to the i-th of [`CausalLm::projections`] (none where
    /// the list is shorter) and puts the model's own adapters back after it. DPO uses it for a
    /// frozen copy of the adapter training started from, as TRL's `ref_adapter_name` does.
    pub fn with_adapters<R>(&mut self, adapters: &[Option<crate::proj::Lora>], f: impl FnOnce(&Self) -> R) -> R {
        let taken: Vec<Option<crate::proj::Lora>> = self
            .projections_mut()
            .into_iter()
            .enumerate()
            .map(|(i, (_, p))| std::mem::replace(&mut p.lora, adapters.get(i).cloned().flatten()))
            .collect();
        let out = f(self);
        for ((_, p), lora) in self.projections_mut().into_iter().zip(taken) {
            p.lora = lora;
        }
        out
    }

    /// A copy of every projection's adapter (none where there is none), in the order of
    /// [`CausalLm::projections`], with its own storage: training the model's adapters later
    /// does not change it. Dropout is left out (a frozen copy only scores).
    pub fn adapters_snapshot(&self) -> Result<Vec<Option<crate::proj::Lora>>> {
        self.projections()
            .into_iter()
            .map(|(_, p)| {
                p.lora
                    .as_ref()
                    .map(|l| Ok(crate::proj::Lora { a: l.a.copy()?, b: l.b.copy()?, scale: l.scale, dropout: None }))
                    .transpose()
            })
            .collect()
    }

    /// Every weight under its checkpoint key, as `save_pretrained` would write them (the tied
    /// `lm_head` omitted); quantised projections dequantised to f32.
    pub fn named_weights(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = vec![("model.embed_tokens.weight".to_string(), self.embed_tokens.clone())];
        for (i, layer) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            out.push((format!("{p}.input_layernorm.weight"), layer.input_layernorm.weight.clone()));
            out.push((format!("{p}.post_attention_layernorm.weight"), layer.post_attention_layernorm.weight.clone()));
            for (name, proj) in layer.projections() {
                out.push((format!("{p}.{name}.weight"), proj.dense_weight()?));
                if let Some(b) = &proj.bias {
                    out.push((format!("{p}.{name}.bias"), b.clone()));
                }
            }
        }
        out.push(("model.norm.weight".to_string(), self.norm.weight.clone()));
        if !self.config.tie_word_embeddings {
            out.push(("lm_head.weight".to_string(), self.lm_head.dense_weight()?));
        }
        Ok(out)
    }

    /// Calls `f` with every weight tensor and its checkpoint key, letting it replace the tensor
    /// (full fine-tuning swaps weights for trainable variables). A tied `lm_head` follows
    /// `embed_tokens` afterwards, so the two stay one parameter.
    pub fn visit_weights_mut(&mut self, mut f: impl FnMut(&str, &mut Tensor) -> Result<()>) -> Result<()> {
        f("model.embed_tokens.weight", &mut self.embed_tokens)?;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let p = format!("model.layers.{i}");
            f(&format!("{p}.input_layernorm.weight"), &mut layer.input_layernorm.weight)?;
            f(&format!("{p}.post_attention_layernorm.weight"), &mut layer.post_attention_layernorm.weight)?;
            for (name, proj) in layer.projections_mut() {
                proj.dequantize()?;
                f(&format!("{p}.{name}.weight"), &mut proj.weight)?;
                if let Some(b) = &mut proj.bias {
                    f(&format!("{p}.{name}.bias"), b)?;
                }
            }
        }
        f("model.norm.weight", &mut self.norm.weight)?;
        if self.config.tie_word_embeddings {
            self.lm_head.weight = self.embed_tokens.clone();
        } else {
            f("lm_head.weight", &mut self.lm_head.weight)?;
        }
        Ok(())
    }

    /// The gradients of `loss` (a scalar computed from this model's outputs), as
    /// `loss.backward()` gives them, plus the parameter gradients of checkpointed layers
    /// (`checkpointing.rs`), which candle's backward pass cannot deliver itself. Training code
    /// calls this rather than `backward()` so that both settings of
    /// [`CausalLm::gradient_checkpointing`] give the same store.
    pub fn backward(&self, loss: &Tensor) -> Result<GradStore> {
        self.checkpoint_grads.clear();
        let mut store = loss.backward()?;
        self.checkpoint_grads.merge_into(&mut store)?;
        Ok(store)
    }

    /// An empty cache for this model.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.layers.len())
    }

    /// Logits `(batch, seq, vocab)` in f32 for `input_ids` `(batch, seq)` following the
    /// positions already in `cache`, which is extended.
    pub fn forward(&self, input_ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        let hidden = self.hidden_states(input_ids, cache)?;
        Ok(self.lm_head.forward(&hidden)?.to_dtype(DType::F32)?)
    }

    /// Logits `(batch, vocab)` in f32 of the last position only: what generation needs, without
    /// computing the LM head for every prompt position.
    pub fn forward_last(&self, input_ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        let hidden = self.hidden_states(input_ids, cache)?;
        let t = hidden.dim(1)?;
        let last = hidden.i((.., t - 1, ..))?.contiguous()?;
        Ok(self.lm_head.forward(&last)?.to_dtype(DType::F32)?)
    }

    /// One decoding step for several independent sequences, each at its own position with its
    /// own cache (which is extended): `tokens[i]` follows the positions in `caches[i]`. Logits
    /// `(rows, vocab)` in f32, row for row what [`CausalLm::forward_last`] gives for each
    /// sequence alone (the projections' GEMV kernel computes every row independently), at the
    /// cost of one read of the weights for all rows: what a server's continuous batching needs.
    /// With `adapters`, each row uses its run's adapter (the model's own are not used);
    /// without, every row uses the adapters attached to the model.
    pub fn forward_rows(&self, tokens: &[u32], caches: &mut [&mut KvCache], adapters: Option<&RowAdapters>) -> Result<Tensor> {
        let b = tokens.len();
        if b != caches.len() || b == 0 || adapters.is_some_and(|a| a.rows() != b) {
            return Err(Error::Generation(format!("forward_rows: {b} tokens for {} caches and their adapters", caches.len())));
        }
        let positions: Vec<Vec<u32>> = caches.iter().map(|c| vec![c.seq_len() as u32]).collect();
        let angles = self.rope.angles_at(&positions)?;
        let ids = Tensor::new(tokens, self.device())?;
        let mut x = self.embed_tokens.index_select(&ids, 0)?.reshape((b, 1, self.config.hidden_size))?;
        let per_layer = DecoderLayer::PROJECTIONS;
        for (i, layer) in self.layers.iter().enumerate() {
            let slots = layer.projections();
            // A projection's index in `projections()`, found by identity, so the order is
            // defined in one place.
            let project = |p: &Proj, x: &Tensor| match adapters {
                None => p.forward(x),
                Some(a) => a.project(p, slots.iter().position(|(_, s)| std::ptr::eq(*s, p)).map(|j| i * per_layer + j), x),
            };
            let attn = layer.self_attn.forward_rows(&layer.input_layernorm.forward(&x)?, &angles, caches, i, &project)?;
            x = (x + attn)?;
            let mlp = layer.mlp.forward_with(&layer.post_attention_layernorm.forward(&x)?, &project)?;
            x = (x + mlp)?;
        }
        let last = self.norm.forward(&x)?.squeeze(1)?;
        let logits = match adapters {
            Some(a) => {
                let index = (!self.config.tie_word_embeddings).then_some(self.layers.len() * per_layer);
                a.project(&self.lm_head, index, &last)?
            }
            None => self.lm_head.forward(&last)?,
        };
        Ok(logits.to_dtype(DType::F32)?)
    }

    /// Logits `(batch, seq, vocab)` in f32 for packed rows: each row holds several records,
    /// `segments[row][j]` naming the record of token `j` (records contiguous). Tokens attend only
    /// within their record and positions restart at 0 for each, so every record is computed
    /// exactly as if alone. No cache: this is for training and scoring.
    pub fn forward_packed(&self, input_ids: &Tensor, segments: &[Vec<u32>]) -> Result<Tensor> {
        let hidden = self.packed_hidden_states(input_ids, segments)?;
        Ok(self.lm_head.forward(&hidden)?.to_dtype(DType::F32)?)
    }

    /// `(batch, seq − 1)` f32: the log-prob of each next token `input_ids[i][j + 1]`, for
    /// training and scoring (no cache; packed rows when `segments` is given, as in
    /// [`CausalLm::forward_packed`]). Only the positions where `scored[i][j + 1]` are needed:
    /// with [`CausalLm::fused_loss`] and a plain f32 head (no bias, no adapter) the others are
    /// not computed and hold 0, and the full logits never exist (`fused_cross_entropy.rs`);
    /// otherwise every position is computed from the full logits.
    pub fn next_token_log_probs(&self, input_ids: &Tensor, segments: Option<&[Vec<u32>]>, scored: &[Vec<bool>]) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        if t < 2 || scored.len() != b || scored.iter().any(|s| s.len() != t) {
            return Err(Error::Generation(format!("next-token log-probs need {b} rows of {t} >= 2 ids with a flag each")));
        }
        let hidden = match segments {
            Some(segments) => self.packed_hidden_states(input_ids, segments)?,
            None => self.unpacked_hidden_states(input_ids)?,
        };
        // Hidden state j predicts token j + 1: (b, t − 1, hidden) against ids[:, 1:].
        let hidden = hidden.narrow(1, 0, t - 1)?;
        let next = input_ids.narrow(1, 1, t - 1)?.contiguous()?;
        let head = &self.lm_head;
        let fused = self.fused_loss
            && head.bias.is_none()
            && head.lora.is_none()
            && head.weight.dtype() == DType::F32
            && hidden.dtype() == DType::F32
            && self.device().is_cpu();
        if fused {
            let targets: Vec<u32> = next.flatten_all()?.to_vec1()?;
            let counted: Vec<bool> = scored.iter().flat_map(|s| s[1..].iter().copied()).collect();
            let h = hidden.reshape((b * (t - 1), self.config.hidden_size))?;
            let lp = crate::fused_cross_entropy::target_log_probs(&h, &head.weight, &targets, &counted)?;
            return Ok(lp.reshape((b, t - 1))?);
        }
        let logits = head.forward(&hidden)?.to_dtype(DType::F32)?;
        let log_probs = candle_nn::ops::log_softmax(&logits, candle_core::D::Minus1)?;
        Ok(log_probs.gather(&next.unsqueeze(2)?, 2)?.squeeze(2)?)
    }

    /// Final-norm hidden states `(batch, seq, hidden)` of packed rows (see
    /// [`CausalLm::forward_packed`]).
    fn packed_hidden_states(&self, input_ids: &Tensor, segments: &[Vec<u32>]) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        if segments.len() != b || segments.iter().any(|s| s.len() != t) {
            return Err(Error::Generation(format!("packed segments must be {b} rows of {t} ids")));
        }
        let positions: Vec<Vec<u32>> = segments
            .iter()
            .map(|seg| {
                let mut pos = 0u32;
                seg.iter()
                    .enumerate()
                    .map(|(j, s)| {
                        pos = if j > 0 && seg[j - 1] == *s { pos + 1 } else { 0 };
                        pos
                    })
                    .collect()
            })
            .collect();
        let angles = self.rope.angles_at(&positions)?;
        let fused = self.attention_is_fused(0);
        let mut masks: Masks = BTreeMap::new();
        for window in self.windows() {
            let mask = if fused {
                AttentionMask::Fused(Arc::new(Visibility::packed(segments, window)))
            } else {
                AttentionMask::Additive(Some(packed_mask(segments, window, self.device())?))
            };
            masks.insert(window, mask);
        }
        self.run_layers(input_ids, &angles, &masks, &mut self.new_cache(), self.gradient_checkpointing)
    }

    /// Final-norm hidden states `(batch, seq, hidden)` with no cache: a training or scoring
    /// pass, checkpointed when [`CausalLm::gradient_checkpointing`] is on.
    fn unpacked_hidden_states(&self, input_ids: &Tensor) -> Result<Tensor> {
        let (angles, masks) = self.causal_inputs(input_ids, 0)?;
        self.run_layers(input_ids, &angles, &masks, &mut self.new_cache(), self.gradient_checkpointing)
    }

    /// The distinct sliding windows of the layers (`None`: full attention), each needing its
    /// own mask.
    fn windows(&self) -> std::collections::BTreeSet<Option<usize>> {
        self.layers.iter().map(|l| l.self_attn.sliding_window).collect()
    }

    /// Whether a forward pass after `offset` cached positions takes the fused attention op: only
    /// without a prefix (the op's queries and keys are the same positions), in f32 on the CPU.
    fn attention_is_fused(&self, offset: usize) -> bool {
        self.fused_attention && offset == 0 && self.dtype() == DType::F32 && self.device().is_cpu()
    }

    /// Final-norm hidden states `(batch, seq, hidden)`.
    fn hidden_states(&self, input_ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        let (angles, masks) = self.causal_inputs(input_ids, cache.seq_len())?;
        // Never checkpointed: the caller's cache must receive every layer's keys and values.
        self.run_layers(input_ids, &angles, &masks, cache, None)
    }

    /// RoPE angles and causal masks (one per distinct sliding window) for `input_ids` after
    /// `offset` cached positions.
    fn causal_inputs(&self, input_ids: &Tensor, offset: usize) -> Result<(RopeAngles, Masks)> {
        let (_, t) = input_ids.dims2()?;
        let angles = self.rope.angles(offset, t)?;
        // One mask per distinct window, shared by the layers that use it.
        let fused = self.attention_is_fused(offset);
        let mut masks: Masks = BTreeMap::new();
        for window in self.windows() {
            let mask = if fused {
                AttentionMask::Fused(Arc::new(Visibility::causal(t, window)))
            } else {
                AttentionMask::Additive(causal_mask(t, offset, window, self.device())?)
            };
            masks.insert(window, mask);
        }
        Ok((angles, masks))
    }

    /// Embeddings, decoder layers and final norm; with `checkpoint = Some(n)`, every `n`th layer
    /// that has something to differentiate runs checkpointed (and adds nothing to `cache`).
    fn run_layers(
        &self,
        input_ids: &Tensor,
        angles: &RopeAngles,
        masks: &Masks,
        cache: &mut KvCache,
        checkpoint: Option<usize>,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let ids = input_ids.flatten_all()?;
        let mut x = self
            .embed_tokens
            .index_select(&ids, 0)?
            .reshape((b, t, self.config.hidden_size))?;
        for (i, layer) in self.layers.iter().enumerate() {
            let mask = masks.get(&layer.self_attn.sliding_window).ok_or_else(|| {
                Error::Generation(format!("no attention mask for window {:?}", layer.self_attn.sliding_window))
            })?;
            let every = checkpoint.unwrap_or(0).max(1);
            x = if checkpoint.is_some() && i % every == 0 && crate::checkpointing::applies(layer, &x) {
                checkpointed_layer(layer, &x, angles, mask, &self.checkpoint_grads)?
            } else {
                layer.forward(&x, angles, mask, cache, i)?
            };
        }
        self.norm.forward(&x)
    }
}

/// Reads `dir/config.json` and resolves it for its `model_type`.
pub fn read_config(dir: &Path) -> Result<DecoderConfig> {
    let hf = HfConfig::read(&dir.join("config.json"))?;
    let model_type = hf
        .opt_str("model_type")?
        .ok_or_else(|| hf.error("model_type", "is missing"))?
        .to_string();
    let supported = || ARCHITECTURES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    let Some((_, parse)) = ARCHITECTURES.iter().find(|(name, _)| *name == model_type) else {
        return Err(Error::UnsupportedModelType {
            path: hf.path.clone(),
            model_type,
            supported: supported(),
        });
    };
    parse(&hf)
}
