//! The engine: one dedicated OS thread owns the model (candle on the CPU; no async runtime
//! here) and decodes every running sequence one token per step.
//!
//! Scheduling follows continuous batching: requests arrive as [`Job`]s through a bounded
//! channel; between two decode steps the loop admits waiting jobs while fewer than `max_batch`
//! sequences run, so a new request never waits for the others to finish, and a finished one
//! frees its slot at once. The channel's capacity is the queue (`max_queue`): when it is full,
//! [`EngineHandle::submit`] says so and the HTTP layer answers 429. A job whose event receiver is
//! gone (the client disconnected) or whose `cancel` flag is set (the caller saw a stop string) is
//! dropped before the next step, queued or running.
//!
//! Each sequence owns its KV cache. A step first prefills new sequences' prompts, in arrival
//! order, at most `prefill_chunk_tokens` prompt tokens in all (chunked prefill: a long prompt
//! is prefilled over several steps while the others keep decoding), each pass with the
//! sequence's adapter installed. Then one batched forward pass decodes every sequence whose
//! prompt was done before the step ([`CausalLm::forward_rows`]): the projections run over all
//! rows at once, so the base weights are read once per step whatever the adapters, and each run
//! of rows with one adapter adds that adapter's low-rank term ([`RowAdapters`], as LoRAX
//! does); attention runs per row against its own cache and position. Row for row the logits
//! are those of a sequence decoded alone, so a sequence's tokens are those of
//! [`whet_models::generate`] for the same prompt and settings (exactly, for prompts prefilled
//! in one chunk; a chunked prefill sums in another order, in the last bits).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;

use candle_core::Tensor;
use tokio::sync::mpsc::UnboundedSender;
use whet_models::{CausalLm, FinishReason, GenerationParams, KvCache, RowAdapters, Sampler};

use crate::error::{Error, Result};
use crate::lora_set::LoraSet;

/// One sequence to generate.
#[derive(Debug)]
pub struct Job {
    /// Prompt token ids (at least one).
    pub prompt: Vec<u32>,
    /// The adapter's weights; `None` is the base model. The job holds them to its end, so an
    /// adapter replaced or removed meanwhile still serves the requests that started with it.
    pub adapter: Option<Arc<LoraSet>>,
    pub params: GenerationParams,
    /// Report the chosen token's log-probability and this many alternatives.
    pub top_logprobs: Option<usize>,
    /// Which choice of the request this is; events carry it back.
    pub index: usize,
    /// Where events go. Dropping the receiver cancels the job.
    pub events: UnboundedSender<Event>,
    /// Set by the caller to cancel this job alone (its receiver may serve other choices).
    pub cancel: Arc<AtomicBool>,
}

impl Job {
    fn cancelled(&self) -> bool {
        self.events.is_closed() || self.cancel.load(Ordering::Relaxed)
    }
}

/// What the engine reports about a job.
#[derive(Debug, Clone)]
pub struct Event {
    pub index: usize,
    pub kind: EventKind,
}

#[derive(Debug, Clone)]
pub enum EventKind {
    /// A generated token (end-of-sequence tokens are not reported; they end the job).
    Token {
        id: u32,
        logprobs: Option<TokenLogprobs>,
    },
    /// The job ended; `completion_tokens` counts every generated token, end-of-sequence included.
    Done {
        finish: FinishReason,
        completion_tokens: usize,
    },
    Failed {
        message: String,
    },
}

/// Natural-log probabilities under the model's distribution (before temperature and filters).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprobs {
    pub logprob: f32,
    /// The most likely tokens, most likely first.
    pub top: Vec<(u32, f32)>,
}

/// Counters the engine keeps up to date, for readiness and monitoring.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Jobs submitted and not yet taken by the engine.
    pub queued: AtomicUsize,
    /// Sequences running.
    pub active: AtomicUsize,
    pub completed: AtomicU64,
    /// Jobs dropped because their receiver went away.
    pub cancelled: AtomicU64,
    pub generated_tokens: AtomicU64,
    pub running: AtomicBool,
}

/// Why a job was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// `max_queue` jobs are already waiting.
    QueueFull,
    /// The engine thread has stopped.
    Stopped,
}

/// The HTTP side's end of the engine; cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    jobs: SyncSender<Job>,
    pub stats: Arc<EngineStats>,
}

impl EngineHandle {
    /// Starts the engine thread for `model` (without adapters attached).
    pub fn spawn(model: CausalLm, max_batch: usize, max_queue: usize, prefill_chunk_tokens: usize) -> Result<Self> {
        let (jobs, rx) = sync_channel(max_queue);
        let stats = Arc::new(EngineStats::default());
        stats.running.store(true, Ordering::SeqCst);
        let engine = Engine {
            model,
            installed: None,
            max_batch: max_batch.max(1),
            prefill_chunk_tokens: prefill_chunk_tokens.max(1),
            arrivals: 0,
            stats: stats.clone(),
        };
        std::thread::Builder::new()
            .name("whet-engine".into())
            .spawn(move || engine.run(rx))
            .map_err(Error::EngineThread)?;
        Ok(Self { jobs, stats })
    }

    /// Queues `job`, or says why not (the job is dropped then).
    pub fn submit(&self, job: Job) -> std::result::Result<(), SubmitError> {
        // Count first so the engine's decrement can never run before the increment.
        self.stats.queued.fetch_add(1, Ordering::SeqCst);
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.stats.queued.fetch_sub(1, Ordering::SeqCst);
                Err(match e {
                    TrySendError::Full(_) => SubmitError::QueueFull,
                    TrySendError::Disconnected(_) => SubmitError::Stopped,
                })
            }
        }
    }

    pub fn is_running(&self) -> bool {
        self.stats.running.load(Ordering::SeqCst)
    }
}

struct Engine {
    /// The base model; `installed` says which adapter its projections hold now.
    model: CausalLm,
    installed: Option<Arc<LoraSet>>,
    max_batch: usize,
    prefill_chunk_tokens: usize,
    /// Jobs admitted so far: each sequence's arrival number.
    arrivals: u64,
    stats: Arc<EngineStats>,
}

/// Marks the engine stopped however its thread ends, panics included.
struct RunningGuard(Arc<EngineStats>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::SeqCst);
    }
}

struct Sequence {
    job: Job,
    /// Admission order, for prefilling first come, first served.
    arrival: u64,
    sampler: Sampler,
    cache: KvCache,
    /// Prompt and generated tokens, for the repetition penalty.
    context: Vec<u32>,
    /// Tokens to feed next: the prompt (what is left of it to prefill) at first, then the last
    /// generated token.
    pending: Vec<u32>,
    generated: usize,
    done: bool,
}

impl Engine {
    fn run(mut self, jobs: Receiver<Job>) {
        let _guard = RunningGuard(self.stats.clone());
        let mut running: Vec<Sequence> = Vec::new();
        let mut open = true;
        loop {
            // Admit waiting jobs between steps; block only when there is nothing to do.
            while open && running.len() < self.max_batch {
                let next = if running.is_empty() {
                    jobs.recv().map_err(|_| TryRecvError::Disconnected)
                } else {
                    jobs.try_recv()
                };
                match next {
                    Ok(job) => {
                        self.stats.queued.fetch_sub(1, Ordering::SeqCst);
                        if let Some(seq) = self.admit(job) {
                            running.push(seq);
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
            if running.is_empty() && !open {
                return;
            }
            for seq in &mut running {
                if seq.job.cancelled() {
                    seq.done = true;
                    self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
                }
            }
            running.retain(|s| !s.done);
            self.stats.active.store(running.len(), Ordering::Relaxed);
            self.step(&mut running);
            running.retain(|s| !s.done);
            self.stats.active.store(running.len(), Ordering::Relaxed);
        }
    }

    /// A running sequence for `job`, or `None` when it is already cancelled or cannot start.
    fn admit(&mut self, job: Job) -> Option<Sequence> {
        if job.cancelled() {
            self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let fail = |job: &Job, message: String| {
            let _ = job.events.send(Event {
                index: job.index,
                kind: EventKind::Failed { message },
            });
        };
        if job.prompt.is_empty() || job.params.max_new_tokens == 0 {
            fail(&job, "the prompt has no tokens or max_tokens is 0".into());
            return None;
        }
        let sampler = match Sampler::new(job.params.sampling.clone()) {
            Ok(s) => s,
            Err(e) => {
                fail(&job, e.to_string());
                return None;
            }
        };
        self.arrivals += 1;
        Some(Sequence {
            arrival: self.arrivals,
            sampler,
            cache: self.model.new_cache(),
            context: job.prompt.clone(),
            pending: job.prompt.clone(),
            generated: 0,
            done: false,
            job,
        })
    }

    /// One step: prefill (part of) new prompts, then one token for every sequence whose prompt
    /// was already done.
    fn step(&mut self, running: &mut [Sequence]) {
        // Decided first, so a prompt finished by this step's prefill decodes from the next one.
        let decoding: Vec<u64> = running.iter().filter(|s| s.pending.len() == 1).map(|s| s.arrival).collect();
        self.prefill(running);
        // Rows of one adapter next to each other (stable: arrival order within an adapter).
        running.sort_by_key(|s| s.job.adapter.as_ref().map(Arc::as_ptr));
        let mut rows: Vec<&mut Sequence> = running.iter_mut().filter(|s| !s.done && decoding.contains(&s.arrival)).collect();
        if rows.is_empty() {
            return;
        }
        let tokens: Vec<u32> = rows.iter().map(|s| s.pending[0]).collect();
        // Each run of rows with one adapter, holding that adapter (an `Arc`) apart from the
        // sequences, whose caches are borrowed mutably meanwhile.
        let runs: Vec<(usize, Option<Arc<LoraSet>>)> = rows
            .chunk_by(|a, b| same_adapter(&a.job.adapter, &b.job.adapter))
            .map(|group| (group.len(), group[0].job.adapter.clone()))
            .collect();
        let adapters = RowAdapters::new(runs.iter().map(|(n, set)| (*n, set.as_deref().map(LoraSet::weights))).collect());
        let logits = {
            let mut caches: Vec<&mut KvCache> = rows.iter_mut().map(|s| &mut s.cache).collect();
            self.model.forward_rows(&tokens, &mut caches, Some(&adapters)).and_then(|t| Ok(t.to_vec2::<f32>()?))
        };
        match logits {
            Ok(logits) => rows.into_iter().zip(logits).for_each(|(seq, row)| self.advance(seq, Ok(row))),
            Err(e) => {
                let message = e.to_string();
                for seq in rows {
                    self.advance(seq, Err(whet_models::Error::Generation(message.clone())));
                }
            }
        }
    }

    /// Feeds new sequences' prompts through the model, first come first served, at most
    /// `prefill_chunk_tokens` tokens in all; a sequence whose whole prompt is in samples its
    /// first token.
    fn prefill(&mut self, running: &mut [Sequence]) {
        let mut order: Vec<usize> = (0..running.len()).filter(|&i| running[i].pending.len() > 1).collect();
        order.sort_by_key(|&i| running[i].arrival);
        let mut budget = self.prefill_chunk_tokens;
        for i in order {
            if budget == 0 {
                break;
            }
            let seq = &mut running[i];
            if !same_adapter(&self.installed, &seq.job.adapter) {
                LoraSet::install(&mut self.model, seq.job.adapter.as_deref());
                // Holding the Arc keeps the address unique while it is compared.
                self.installed = seq.job.adapter.clone();
            }
            let n = seq.pending.len().min(budget);
            budget -= n;
            let chunk: Vec<u32> = seq.pending.drain(..n).collect();
            let logits = self.next_logits(&chunk, &mut seq.cache);
            // With prompt left, only the cache matters (the next chunk continues it).
            if seq.pending.is_empty() || logits.is_err() {
                self.advance(seq, logits);
            }
        }
    }

    /// Samples the next token of `seq` from its logits; reports it and whether it ended.
    fn advance(&self, seq: &mut Sequence, logits: whet_models::Result<Vec<f32>>) {
        let (index, events) = (seq.job.index, &seq.job.events);
        let send = |kind: EventKind| {
            let _ = events.send(Event { index, kind });
        };
        let row = match logits {
            Ok(row) => row,
            Err(e) => {
                self.free_slot();
                send(EventKind::Failed {
                    message: e.to_string(),
                });
                seq.done = true;
                return;
            }
        };
        let token = seq.sampler.sample(&row, &seq.context);
        seq.context.push(token);
        seq.generated += 1;
        self.stats.generated_tokens.fetch_add(1, Ordering::Relaxed);
        let finish = if seq.job.params.eos_token_ids.contains(&token) {
            Some(FinishReason::Eos)
        } else {
            let logprobs = seq.job.top_logprobs.map(|k| logprobs(&row, token, k));
            send(EventKind::Token {
                id: token,
                logprobs,
            });
            (seq.generated >= seq.job.params.max_new_tokens).then_some(FinishReason::Length)
        };
        match finish {
            Some(finish) => {
                self.free_slot();
                self.stats.completed.fetch_add(1, Ordering::Relaxed);
                send(EventKind::Done {
                    finish,
                    completion_tokens: seq.generated,
                });
                seq.done = true;
            }
            None => seq.pending = vec![token],
        }
    }

    /// Counts a finished sequence out of `active` before its last event goes out, so that a
    /// client holding its answer never sees the slot still taken in `/ready` or `/metrics` (the
    /// count is set from the running list again after the step).
    fn free_slot(&self) {
        self.stats.active.fetch_sub(1, Ordering::SeqCst);
    }

    /// Logits of the next token after `input`, extending `cache`.
    fn next_logits(&self, input: &[u32], cache: &mut KvCache) -> whet_models::Result<Vec<f32>> {
        let input = Tensor::new(input, self.model.device())?.unsqueeze(0)?;
        Ok(self
            .model
            .forward_last(&input, cache)?
            .squeeze(0)?
            .to_vec1()?)
    }
}

/// Whether two jobs run on the same adapter weights (the same version of it), or both on none.
fn same_adapter(a: &Option<Arc<LoraSet>>, b: &Option<Arc<LoraSet>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// Log-softmax of `logits` at `token`, and the `k` most likely tokens (ties: lower id first).
pub fn logprobs(logits: &[f32], token: u32, k: usize) -> TokenLogprobs {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_sum = logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln() + max;
    let at = |i: usize| logits.get(i).map_or(f32::NEG_INFINITY, |l| l - log_sum);
    let mut order: Vec<usize> = (0..logits.len()).collect();
    let k = k.min(logits.len());
    if k > 0 {
        order.select_nth_unstable_by(k - 1, |&a, &b| {
            logits[b].total_cmp(&logits[a]).then(a.cmp(&b))
        });
    }
    order.truncate(k);
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    TokenLogprobs {
        logprob: at(token as usize),
        top: order.into_iter().map(|i| (i as u32, at(i))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use whet_models::SamplingParams;

    fn base_model() -> CausalLm {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/base-model");
        CausalLm::load(&dir, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap()
    }

    fn greedy(max_new_tokens: usize) -> GenerationParams {
        GenerationParams { max_new_tokens, eos_token_ids: Vec::new(), sampling: SamplingParams::default() }
    }

    #[test]
    fn a_long_prompt_is_prefilled_in_chunks_while_the_running_sequence_keeps_decoding() {
        let model = base_model();
        let short: Vec<u32> = vec![5, 17];
        let long: Vec<u32> = (0..41).map(|i| 20 + (i * 37) % 500).collect();
        let expected: Vec<Vec<u32>> = [(&short, 40), (&long, 3)]
            .iter()
            .map(|(p, n)| whet_models::generate(&model, p, &greedy(*n), |_| true).unwrap().tokens)
            .collect();
        for (chunk, interleaved) in [(4, true), (512, false)] {
            let engine = EngineHandle::spawn(model.clone(), 4, 8, chunk).unwrap();
            // One channel for both jobs, so the events arrive in the engine's order.
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for (index, (prompt, n)) in [(&short, 40), (&long, 3)].into_iter().enumerate() {
                let job = Job {
                    prompt: prompt.clone(),
                    adapter: None,
                    params: greedy(n),
                    top_logprobs: None,
                    index,
                    events: tx.clone(),
                    cancel: Arc::new(AtomicBool::new(false)),
                };
                engine.submit(job).unwrap();
            }
            drop(tx);
            let mut tokens = vec![Vec::new(), Vec::new()];
            // How many tokens the short prompt's sequence had when the long one's first came.
            let mut before_long = None;
            while let Some(event) = rx.blocking_recv() {
                match event.kind {
                    EventKind::Token { id, .. } => {
                        if event.index == 1 && before_long.is_none() {
                            before_long = Some(tokens[0].len());
                        }
                        tokens[event.index].push(id);
                    }
                    EventKind::Failed { message } => panic!("{message}"),
                    EventKind::Done { .. } => {}
                }
            }
            assert_eq!(tokens, expected, "chunk {chunk}: tokens differ from generate()'s");
            // 41 prompt tokens, 4 a step: at least 10 steps in which the short one decodes.
            let before_long = before_long.unwrap();
            assert_eq!(before_long >= 9, interleaved, "chunk {chunk}: {before_long} tokens decoded before the long prompt's first");
        }
    }

    #[test]
    fn logprobs_are_a_log_softmax_with_the_best_first() {
        let lp = logprobs(&[0.0, (3.0f32).ln(), 0.0], 1, 2);
        // softmax = [0.2, 0.6, 0.2]
        assert!((lp.logprob - 0.6f32.ln()).abs() < 1e-6);
        assert_eq!(lp.top.len(), 2);
        assert_eq!((lp.top[0].0, lp.top[1].0), (1, 0));
        assert!((lp.top[1].1 - 0.2f32.ln()).abs() < 1e-6);
    }
}
