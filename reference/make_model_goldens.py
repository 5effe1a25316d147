#!/usr/bin/env python3
"""Generate the golden data the Rust model-core tests compare against.

Run from the repository root (CPU only, no network, ~10 s):

    /opt/refvenv/bin/python reference/make_model_goldens.py

(any venv with the versions pinned in reference/requirements.txt works.)

It writes, deterministically (re-running gives byte-identical files):

* tests/golden/models/<name>/   complete HF model directories (config.json,
  generation_config.json, safetensors, tokenizer files) for tiny random
  models: llama, llama_mqa, mistral, qwen2. Each directory also holds
  golden.safetensors (fixed input ids + logits) and golden.json (per-text
  and per-chat NLL sums, greedy continuations).
* tests/golden/chat_templates/cases.json   chat-template rendering cases,
  expected = tokenizer.apply_chat_template(..., tokenize=False).
* tests/golden/MANIFEST.json   versions, seeds, file descriptions, sizes.

The tokenizer is a small byte-level BPE trained here on sentences the script
generates itself; the models are random. Nothing is downloaded. CI never runs
this script: its outputs are committed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import random
import shutil
import sys
from pathlib import Path

import jinja2
import safetensors
import safetensors.torch
import tokenizers
import torch
import transformers
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "golden"
MODELS_DIR = OUT / "models"
CT_DIR = OUT / "chat_templates"
SCRIPT = "reference/make_model_goldens.py"
OWN_DIRS = ("models/", "chat_templates/")  # MANIFEST "files" entries this script owns
OTHER_GENERATOR_SECTIONS = ("adapter_goldens", "dpo_goldens")  # MANIFEST sections kept from other generators

CORPUS_SEED = 1234
INPUT_SEED = 4321
TOKENIZER_TRAINED_VOCAB = 507  # + 5 added special tokens = 512
N_GREEDY = 20
MIN_GAP_REQUIRED = 1e-2  # brief asks > 1e-3; seeds chosen for more margin
INIT_STD = 0.2

BOS, EOS, IM_START, IM_END, PAD = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|pad|>",
)
SPECIALS = [BOS, EOS, IM_START, IM_END, PAD]

TRANSFORMERS_MAJOR = int(transformers.__version__.split(".")[0])

torch.set_num_threads(1)  # reductions in a fixed order: identical logits on every run
torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------------------
# Corpus and tokenizer
# --------------------------------------------------------------------------------------


def make_corpus(n_lines: int = 600) -> list[str]:
    """English-like sentences from simple templates, generated (not copied)."""
    rng = random.Random(CORPUS_SEED)
    names = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Grace", "Henry", "Iris", "Jack"]
    adjs = ["small", "quick", "quiet", "bright", "old", "young", "happy", "lazy", "red", "green",
            "blue", "warm", "cold", "tall", "little", "clever", "brave", "gentle"]
    nouns = ["cat", "dog", "fox", "bird", "robot", "teacher", "river", "garden", "house", "book",
             "tree", "city", "train", "child", "friend", "window", "table", "mountain", "model", "story"]
    verbs = ["reads", "sees", "likes", "finds", "watches", "builds", "paints", "visits", "follows",
             "helps", "answers", "writes", "opens", "carries"]
    places = ["in the garden", "near the river", "at home", "in the city", "on the mountain",
              "under the tree", "by the window", "at school", "in the morning", "at night"]
    questions = ["What is the weather like today?", "How are you today?", "Can you help me?",
                 "Where is the train station?", "What time is it?", "Why is the sky blue?",
                 "How does a model learn?", "Who wrote this story?"]
    answers = ["Sure, I can help with that.", "The answer is simple.", "Let me think about it.",
               "Thank you for asking.", "I am not sure, but I will try.", "Here is a short answer.",
               "That is a good question."]
    lines = []
    for _ in range(n_lines):
        k = rng.randrange(7)
        a, b = rng.choice(adjs), rng.choice(adjs)
        n1, n2 = rng.choice(nouns), rng.choice(nouns)
        if k == 0:
            lines.append(f"The {a} {n1} {rng.choice(verbs)} the {b} {n2} {rng.choice(places)}.")
        elif k == 1:
            lines.append(f"{rng.choice(names)} {rng.choice(verbs)} a {a} {n1}, and {rng.choice(names)} "
                         f"{rng.choice(verbs)} the {n2}.")
        elif k == 2:
            lines.append(rng.choice(questions) + " " + rng.choice(answers))
        elif k == 3:
            lines.append(f"There are {rng.randint(2, 99)} {n1}s and {rng.randint(2, 99)} {n2}s "
                         f"{rng.choice(places)}.")
        elif k == 4:
            lines.append(f"Once upon a time, a {a} {n1} lived {rng.choice(places)}. "
                         f"Every day it {rng.choice(verbs)} a {b} {n2}.")
        elif k == 5:
            lines.append(f"Hello! My name is {rng.choice(names)}. I like the {a} {n1}.")
        else:
            lines.append(f"You are a helpful assistant. {rng.choice(questions)} "
                         f"{rng.choice(answers)} The {n1} is {a}.")
    return lines


CHATML_TEMPLATE = """{{- bos_token }}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set system_message = 'You are a helpful assistant.' %}
    {%- set loop_messages = messages %}
{%- endif %}
{{- '<|im_start|>system\\n' + system_message + '<|im_end|>\\n' }}
{%- for message in loop_messages %}
    {%- if message['role'] != 'user' and message['role'] != 'assistant' %}
        {{- raise_exception('Unknown role: ' + message['role']) }}
    {%- endif %}
    {%- if loop.first and message['role'] != 'user' %}
        {{- raise_exception('The first message after the system prompt must come from the user') }}
    {%- endif %}
    {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}
    {%- if loop.last and add_generation_prompt %}
        {{- '<|im_start|>assistant\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt and loop_messages | length == 0 %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""


def build_tokenizer(staging: Path):
    corpus = make_corpus()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_TRAINED_VOCAB,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    assert tok.get_vocab_size() == TOKENIZER_TRAINED_VOCAB, tok.get_vocab_size()
    # Added after training so that, as in Llama 3, the special tokens sit at the end of
    # the vocabulary and live in `added_tokens`, not in the BPE model's vocab.
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS}:0 $A:0",
                pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1",
                special_tokens=[(BOS, bos_id)],
            ),
        ]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=256,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHATML_TEMPLATE
    staging.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(staging), save_jinja_files=False)
    # From here on use the tokenizer exactly as it loads from disk.
    loaded = AutoTokenizer.from_pretrained(str(staging))
    assert len(loaded) == 512, len(loaded)
    return loaded, len(corpus)


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------


def rope_kwargs(theta: float, scaling: dict | None) -> dict:
    if TRANSFORMERS_MAJOR >= 5:
        params = {"rope_type": "default", "rope_theta": theta}
        if scaling:
            params = {**scaling, "rope_theta": theta}
        return {"rope_parameters": params}
    out = {"rope_theta": theta}
    if scaling:
        out["rope_scaling"] = scaling
    return out


def model_specs(ids: dict) -> list[dict]:
    common = dict(
        vocab_size=512,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        rms_norm_eps=1e-5,
        initializer_range=INIT_STD,  # documents the std init_weights() uses
        bos_token_id=ids[BOS],
        eos_token_id=ids[EOS],
        pad_token_id=ids[PAD],
    )
    for_others = dict(max_position_embeddings=256)
    return [
        dict(
            name="llama",
            cls=LlamaForCausalLM,
            config=LlamaConfig(
                **common,
                intermediate_size=128,
                num_key_value_heads=2,
                tie_word_embeddings=True,
                # transformers wants original_max_position_embeddings < max_position_embeddings
                max_position_embeddings=2048,
                **rope_kwargs(
                    500000.0,
                    {
                        "rope_type": "llama3",
                        "factor": 8.0,
                        "low_freq_factor": 1.0,
                        "high_freq_factor": 4.0,
                        "original_max_position_embeddings": 256,
                    },
                ),
            ),
            seed=118,
            std=INIT_STD,
            dtype="float32",
            shard=None,
            jinja_file=False,
            notes="GQA 4q/2kv, head_dim 16, tied embeddings, llama3 rope scaling "
            "(unscaled, smoothed and scaled frequency bands all present).",
        ),
        dict(
            name="llama_mqa",
            cls=LlamaForCausalLM,
            config=LlamaConfig(
                **common,
                **for_others,
                intermediate_size=96,
                num_key_value_heads=1,
                head_dim=24,
                attention_bias=True,
                mlp_bias=True,
                tie_word_embeddings=False,
                **rope_kwargs(10000.0, {"rope_type": "linear", "factor": 2.0}),
            ),
            seed=119,
            std=INIT_STD,
            dtype="float32",
            shard=None,
            jinja_file=False,
            notes="MQA 4q/1kv, explicit head_dim 24 != hidden/heads, attention and MLP biases, "
            "linear rope scaling factor 2, untied embeddings.",
        ),
        dict(
            name="mistral",
            cls=MistralForCausalLM,
            config=MistralConfig(
                **common,
                **for_others,
                intermediate_size=96,
                num_key_value_heads=2,
                head_dim=16,
                sliding_window=8,
                tie_word_embeddings=False,
                **rope_kwargs(10000.0, None),
            ),
            seed=126,
            std=INIT_STD,
            dtype="bfloat16",
            shard=None,
            jinja_file=True,
            notes="GQA 4q/2kv, sliding_window 8, untied, weights stored in bf16 "
            "(logits_f32 use those bf16 weights upcast to f32), chat template in chat_template.jinja.",
        ),
        dict(
            name="qwen2",
            cls=Qwen2ForCausalLM,
            config=Qwen2Config(
                **common,
                **for_others,
                intermediate_size=96,
                num_key_value_heads=2,
                tie_word_embeddings=True,
                use_sliding_window=False,
                **rope_kwargs(1000000.0, None),
            ),
            seed=107,
            std=INIT_STD,
            dtype="float32",
            shard=160_000,
            jinja_file=False,
            notes="GQA 4q/2kv, q/k/v biases, tied embeddings, saved sharded (model.safetensors.index.json).",
        ),
    ]


@torch.no_grad()
def init_weights(model: torch.nn.Module, seed: int, std: float) -> None:
    """Explicit init independent of transformers' own init: N(0, std) matrices and
    embeddings, N(0, 0.1) biases (non-zero), 1 + N(0, 0.1) norm weights (not all ones)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
        if "norm" in name:
            p.copy_(1.0 + 0.1 * noise)
        elif name.endswith(".bias"):
            p.copy_(0.1 * noise)
        else:
            p.copy_(std * noise)


def check_llama3_rope_bands(config) -> dict:
    """Return which frequency bands occur for the llama3 scaling at this head_dim."""
    rp = getattr(config, "rope_parameters", None) or config.rope_scaling
    theta = rp.get("rope_theta", getattr(config, "rope_theta", None))
    head_dim = config.hidden_size // config.num_attention_heads
    inv = [1.0 / theta ** (2 * i / head_dim) for i in range(head_dim // 2)]
    low_wavelen = rp["original_max_position_embeddings"] / rp["low_freq_factor"]
    high_wavelen = rp["original_max_position_embeddings"] / rp["high_freq_factor"]
    bands = []
    for f in inv:
        wl = 2 * math.pi / f
        bands.append("unscaled" if wl < high_wavelen else "scaled" if wl > low_wavelen else "smoothed")
    assert {"unscaled", "smoothed", "scaled"} <= set(bands), bands
    # cross-check against transformers' own implementation
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    hf_inv, _ = ROPE_INIT_FUNCTIONS["llama3"](config, "cpu")
    ours = []
    for f, band in zip(inv, bands):
        wl = 2 * math.pi / f
        if band == "unscaled":
            ours.append(f)
        elif band == "scaled":
            ours.append(f / rp["factor"])
        else:
            smooth = (rp["original_max_position_embeddings"] / wl - rp["low_freq_factor"]) / (
                rp["high_freq_factor"] - rp["low_freq_factor"]
            )
            ours.append((1 - smooth) * f / rp["factor"] + smooth * f)
    assert torch.allclose(hf_inv.double(), torch.tensor(ours, dtype=torch.float64), rtol=1e-5), (hf_inv, ours)
    return {
        "bands": bands,
        "wavelengths": [round(2 * math.pi / f, 3) for f in inv],
        "low_freq_wavelen": low_wavelen,
        "high_freq_wavelen": high_wavelen,
    }


@torch.no_grad()
def check_sliding_window(model, window: int, seq: int = 24) -> str:
    ids = torch.arange(seq).unsqueeze(0) % 500
    out = model(ids, output_attentions=True)
    att = out.attentions[0][0]  # [heads, q, k]
    for i in range(seq):
        for j in range(seq):
            nz = bool((att[:, i, j] != 0).all())
            expected = (j <= i) and (i - j < window)
            assert nz == expected, (i, j, nz, expected)
    return f"query i attends to key j iff i - {window} < j <= i ({window} keys including itself)"


# --------------------------------------------------------------------------------------
# Goldens
# --------------------------------------------------------------------------------------

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello! My name is Anna. How are you today?",
    "Café, déjà vu, naïve: 日本語 and emoji 😀 too.",
    'Code: a < b && c > d; she said "hi" &\nnew line.',
]
INPUT_0_TEXT = "The small robot reads a book in the garden."
GREEDY_PROMPTS = ["Once upon a time, a", "Hello! My name is"]
CHATS = [
    [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the weather like today?"},
        {"role": "assistant", "content": "It is warm and sunny in the garden."},
        {"role": "user", "content": "Can you help me find a book?"},
        {"role": "assistant", "content": "Sure, I can help with that. The old book is on the table."},
    ],
    [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "Où est la gare? 日本語で?"},
        {"role": "assistant", "content": "La gare est près de la rivière. 😀"},
        {"role": "user", "content": 'Is 3 < 5 & "true"?\nYes or no.'},
        {"role": "assistant", "content": "Yes."},
    ],
]


def render(tok, msgs, agp):
    return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=agp)


@torch.no_grad()
def score(model, ids: list[int], scored: list[bool]) -> tuple[int, float]:
    """nll_sum over positions j >= 1 with scored[j]; f64 sum of f32 values."""
    logits = model(torch.tensor([ids])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    total, n = 0.0, 0
    for j in range(1, len(ids)):
        if scored[j]:
            total += float(-logp[j - 1, ids[j]])
            n += 1
    return n, total


def chat_scored_mask(tok, msgs) -> tuple[list[int], list[bool], list[list[int]]]:
    full = render(tok, msgs, False)
    spans = []
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        prefix = render(tok, msgs[:i], True)
        upto = render(tok, msgs[: i + 1], False)
        assert full.startswith(prefix) and full.startswith(upto), (prefix, upto)
        spans.append([len(prefix), len(upto)])
    enc = tok(full, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    scored = [False] * len(ids)
    for j in range(1, len(ids)):
        s = offsets[j][0]
        scored[j] = any(a <= s < b for a, b in spans)
    return ids, scored, spans


@torch.no_grad()
def greedy(model, prompt_ids: list[int], n: int) -> tuple[list[int], float]:
    seq = list(prompt_ids)
    min_gap = float("inf")
    for _ in range(n):
        logits = model(torch.tensor([seq])).logits[0, -1].float()
        top2 = torch.topk(logits, 2)
        min_gap = min(min_gap, float(top2.values[0] - top2.values[1]))
        seq.append(int(top2.indices[0]))
    return seq[len(prompt_ids):], min_gap


def write_model(spec: dict, tok, special_ids: dict) -> dict:
    name = spec["name"]
    d = MODELS_DIR / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)

    torch.manual_seed(spec["seed"])
    model = spec["cls"](spec["config"]).eval()
    init_weights(model, spec["seed"], spec["std"])
    if spec["dtype"] == "bfloat16":
        model = model.to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=special_ids[BOS],
        eos_token_id=[special_ids[EOS], special_ids[IM_END]],
        pad_token_id=special_ids[PAD],
    )
    save_kwargs = {}
    if spec["shard"]:
        save_kwargs["max_shard_size"] = spec["shard"]
    model.save_pretrained(str(d), **save_kwargs)
    tok.save_pretrained(str(d), save_jinja_files=spec["jinja_file"])
    tc = json.loads((d / "tokenizer_config.json").read_text())
    if spec["jinja_file"]:
        assert (d / "chat_template.jinja").exists() and "chat_template" not in tc
    else:
        assert not (d / "chat_template.jinja").exists() and tc.get("chat_template") == CHATML_TEMPLATE

    # Everything below uses the model exactly as it loads from disk.
    m32 = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.float32, attn_implementation="eager").eval()
    m16 = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.bfloat16, attn_implementation="eager").eval()
    assert type(m32) is spec["cls"]

    extra = {}
    if name == "llama":
        extra["rope_bands"] = check_llama3_rope_bands(m32.config)
    if name == "mistral":
        extra["sliding_window_semantics"] = check_sliding_window(m32, spec["config"].sliding_window)

    # fixed inputs
    g = torch.Generator().manual_seed(INPUT_SEED)
    inputs = {
        "input_ids_0": torch.tensor([tok(INPUT_0_TEXT)["input_ids"]], dtype=torch.int64),
        "input_ids_1": torch.randint(0, 512, (1, 24), generator=g, dtype=torch.int64),
        "input_ids_2": torch.randint(0, 512, (2, 24), generator=g, dtype=torch.int64),
    }
    tensors = {}
    with torch.no_grad():
        for i in range(3):
            ids = inputs[f"input_ids_{i}"]
            tensors[f"input_ids_{i}"] = ids.contiguous()
            tensors[f"logits_f32_{i}"] = m32(ids).logits.float().contiguous()
            tensors[f"logits_bf16_{i}"] = m16(ids).logits.float().contiguous()
    if name == "mistral":
        # the window must matter for length-24 inputs
        nowin = spec["cls"](m32.config.__class__.from_dict({**m32.config.to_dict(), "sliding_window": None}))
        nowin.load_state_dict(m32.state_dict())
        nowin.eval()
        with torch.no_grad():
            diff = (nowin(inputs["input_ids_1"]).logits - tensors["logits_f32_1"]).abs().max().item()
        assert diff > 1e-2, diff
        extra["max_abs_logit_change_without_window"] = round(diff, 4)
    safetensors.torch.save_file(tensors, str(d / "golden.safetensors"), metadata={"generator": SCRIPT})

    texts = []
    for t in TEXTS:
        ids = tok(t)["input_ids"]
        assert ids[0] == special_ids[BOS]
        n, nll = score(m32, ids, [True] * len(ids))
        assert n == len(ids) - 1
        texts.append({"text": t, "n_tokens": n, "nll_sum": nll})
    chats = []
    for msgs in CHATS:
        ids, scored, spans = chat_scored_mask(tok, msgs)
        n, nll = score(m32, ids, scored)
        chats.append({"messages": msgs, "n_tokens": n, "nll_sum": nll, "assistant_char_spans": spans})
    greedy_out, gaps = [], []
    for p in GREEDY_PROMPTS:
        pids = tok(p)["input_ids"]
        assert 5 <= len(pids) <= 8, (p, len(pids))
        gen, gap = greedy(m32, pids, N_GREEDY)
        greedy_out.append({"prompt": p, "prompt_ids": pids, "generated_ids": gen})
        gaps.append(gap)
    min_gap = min(gaps)
    assert min_gap > MIN_GAP_REQUIRED, (name, min_gap)
    golden = {
        "model": name,
        "input_0_text": INPUT_0_TEXT,
        "texts": texts,
        "chats": chats,
        "greedy": greedy_out,
        "min_greedy_gap": min_gap,
    }
    (d / "golden.json").write_text(json.dumps(golden, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    bf16_vs_f32 = max(
        (tensors[f"logits_bf16_{i}"] - tensors[f"logits_f32_{i}"]).abs().max().item() for i in range(3)
    )
    return {
        "class": spec["cls"].__name__,
        "seed": spec["seed"],
        "init_std": spec["std"],
        "weights_dtype": spec["dtype"],
        "sharded": bool(spec["shard"]),
        "chat_template_location": "chat_template.jinja" if spec["jinja_file"] else "tokenizer_config.json",
        "notes": spec["notes"],
        "num_parameters": sum(p.numel() for p in m32.parameters()),
        "min_greedy_gap": min_gap,
        "max_abs_diff_logits_bf16_vs_f32": round(bf16_vs_f32, 4),
        "logit_abs_max": round(max(tensors[f"logits_f32_{i}"].abs().max().item() for i in range(3)), 3),
        **extra,
    }


# --------------------------------------------------------------------------------------
# Chat-template cases
# --------------------------------------------------------------------------------------

# Llama-3.1-style, written for this project: tools via tojson(indent=4), strftime_now
# guarded by `date_string is not defined`, namespace(), .strip(), break/continue.
LLAMA31_STYLE_TEMPLATE = """{{- bos_token }}
{%- if date_string is not defined %}
    {%- set date_string = strftime_now("%d %b %Y") %}
{%- endif %}
{%- set ns = namespace(system='', n_tool_msgs=0) %}
{%- for message in messages %}
    {%- if message['role'] == 'system' %}
        {%- set ns.system = message['content'].strip() %}
        {%- break %}
    {%- endif %}
{%- endfor %}
{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}
{{- 'Cutting Knowledge Date: December 2023\\n' }}
{{- 'Today Date: ' + date_string + '\\n\\n' }}
{%- if tools is not none %}
    {{- 'You may call one of these functions. Reply with JSON {"name": function name, "parameters": arguments}.\\n\\n' }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- '\\n\\n' }}
    {%- endfor %}
{%- endif %}
{{- ns.system + '<|eot_id|>' }}
{%- for message in messages %}
    {%- if message.role == 'system' %}
        {%- continue %}
    {%- endif %}
    {%- if message['role'] == 'tool' or message['role'] == 'ipython' %}
        {%- set ns.n_tool_msgs = ns.n_tool_msgs + 1 %}
        {{- '<|start_header_id|>ipython<|end_header_id|>\\n\\n' }}
        {%- if message['content'] is mapping %}
            {{- message['content'] | tojson }}
        {%- else %}
            {{- message['content'] }}
        {%- endif %}
        {{- '<|eot_id|>' }}
    {%- elif message['tool_calls'] is defined %}
        {%- set call = message['tool_calls'][0]['function'] %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
        {{- '{"name": "' + call['name'] + '", "parameters": ' + call['arguments'] | tojson + '}' }}
        {{- '<|eom_id|>' }}
    {%- else %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'].strip() + '<|eot_id|>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

# Qwen-2.5-style tool calling, written for this project: `tools` with compact tojson,
# `messages[0]['role']`, `| trim` (filter binds tighter than +), message.attr access,
# tool responses grouped into one user turn via loop.index0 look-behind/ahead,
# and a Qwen3-like `enable_thinking` kwarg.
QWEN_STYLE_TOOLS_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] | trim }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- '\\n\\n# Tools\\n\\n<tools>' }}
    {%- for tool in tools %}
        {{- '\\n' }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- '\\n</tools><|im_end|>\\n' }}
{%- elif messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0]['content'] | trim + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == 'system' and loop.first %}
    {%- elif message.role == 'user' or (message.role == 'assistant' and message.tool_calls is not defined) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content | trim + '<|im_end|>\\n' }}
    {%- elif message.role == 'assistant' %}
        {{- '<|im_start|>assistant' }}
        {%- if message.content is defined and message.content %}
            {{- '\\n' + message.content | trim }}
        {%- endif %}
        {%- for tc in message.tool_calls %}
            {%- set fn = tc.function if tc.function is defined else tc %}
            {{- '\\n<tool_call>\\n{"name": "' + fn.name + '", "arguments": ' }}
            {%- if fn.arguments is string %}
                {{- fn.arguments }}
            {%- else %}
                {{- fn.arguments | tojson }}
            {%- endif %}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == 'tool' %}
        {%- if loop.index0 == 0 or messages[loop.index0 - 1].role != 'tool' %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}
        {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- else %}
        {{- raise_exception('Unsupported role: ' + message.role) }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}
"""

# Mistral-[INST]-style, written for this project. Deliberately uses plain {% %} tags on
# their own indented lines: the output depends on transformers' trim_blocks=True and
# lstrip_blocks=True. Alternation check via loop.index0 % 2, bos/eos tokens.
INST_STYLE_TEMPLATE = """{{ bos_token }}{% if messages[0]['role'] == 'system' %}
    {% set system_message = messages[0]['content'] | trim %}
    {% set loop_messages = messages[1:] %}
{% else %}
    {% set system_message = '' %}
    {% set loop_messages = messages %}
{% endif %}
{% for message in loop_messages %}
    {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
    {% endif %}
    {% if message['role'] == 'user' %}
        {% if loop.first and system_message != '' %}
            {% set content = system_message + '\\n\\n' + message['content'] | trim %}
        {% else %}
            {% set content = message['content'] | trim %}
        {% endif %}
[INST] {{ content }} [/INST]
    {%- elif message['role'] == 'assistant' %}
 {{ message['content'] | trim }}{{ eos_token }}
    {%- endif %}
{% endfor %}
"""

# Gemma-style turns plus a JSON metadata line, written for this project: tojson on
# dict literals and on the caller's message dicts (key order preserved, non-ASCII
# kept, no HTML escaping), map(attribute=), `~` concatenation, role renaming,
# `-%}`/`{%-` whitespace control.
JSON_META_TEMPLATE = """{%- if messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] | trim ~ '\\n\\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{{ bos_token }}
{{- {'n_messages': messages | length, 'roles': messages | map(attribute='role') | list, 'last': messages[-1]} | tojson ~ '\\n' }}
{%- for message in loop_messages -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {%- if role not in ['user', 'model'] -%}
        {{ raise_exception('Unexpected role ' ~ message['role'] ~ ' at index ' ~ loop.index0) }}
    {%- endif %}
<start_of_turn>{{ role }}
{{ (first_user_prefix if loop.first else '') ~ message['content'] | trim }}<end_of_turn>
{% endfor %}
{%- if add_generation_prompt %}
<start_of_turn>model
{% endif -%}
"""

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather — temperature in °C",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. \"Zürich\" or 東京"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web for <query> & return results",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "max_results": {"type": "integer", "default": 3}},
            "required": ["query"],
        },
    },
}


def chat_template_cases(tok) -> list[dict]:
    sys_m = {"role": "system", "content": "  You are a terse assistant.\n"}
    multi = [
        {"role": "user", "content": "Hello!"},
        {"role": "assistant", "content": "Hi there. How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ]
    nonascii = [
        {"role": "user", "content": "Café crème, s'il vous plaît — 日本語でお願いします 😀"},
        {"role": "assistant", "content": "Voilà: 日本語 ✓ 🎉"},
        {"role": "user", "content": "Merci!"},
    ]
    special = [
        {"role": "user", "content": 'Is 1 < 2 && "a" > \'b\'?\nLine two\twith tab & <tag attr="x">.'},
        {"role": "assistant", "content": "  Yes: 1 < 2.\n\nAnd \"quotes\" & 'apostrophes' stay.  "},
        {"role": "user", "content": "{{ not a template }} {% neither %}"},
    ]
    tool_conv = [
        {"role": "system", "content": "You can use tools."},
        {"role": "user", "content": "What's the weather in Zürich?"},
        {
            "role": "assistant",
            "content": None,  # transformers 5 drops None-valued keys before rendering
            "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "unit": "celsius"}}}
            ],
        },
        {"role": "tool", "content": '{"temperature": 21.5, "sky": "sunny ☀"}'},
        {"role": "assistant", "content": "It is 21.5 °C and sunny in Zürich."},
        {"role": "user", "content": "And in 東京?"},
    ]
    tool_conv_multi = [
        {"role": "user", "content": "Search two things."},
        {
            "role": "assistant",
            "content": "I will search.",
            "tool_calls": [
                {"type": "function", "function": {"name": "search", "arguments": {"query": "rust <lang> & \"safety\"", "max_results": 2}}},
                {"type": "function", "function": {"name": "search", "arguments": '{"query": "jinja"}'}},
            ],
        },
        {"role": "tool", "content": "result A"},
        {"role": "tool", "content": "result B"},
    ]
    llama_tool_conv = [
        {"role": "system", "content": "  Use tools when needed.  "},
        {"role": "user", "content": "Weather in Zürich?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "unit": "celsius"}}}
            ],
        },
        {"role": "tool", "content": {"temperature": 21.5, "sky": "sunny ☀", "note": "<ok> & \"fine\""}},
        {"role": "assistant", "content": " It is 21.5 °C. "},
    ]
    T = {
        "chatml": CHATML_TEMPLATE,
        "llama31_style": LLAMA31_STYLE_TEMPLATE,
        "qwen_style_tools": QWEN_STYLE_TOOLS_TEMPLATE,
        "inst_style": INST_STYLE_TEMPLATE,
        "json_meta": JSON_META_TEMPLATE,
    }
    date = {"date_string": "26 Jul 2024"}
    specs = [
        ("chatml/no_system_default_prompt/gen", "chatml", multi, True, {}),
        ("chatml/system/no_gen", "chatml", [sys_m] + multi[:2], False, {}),
        ("chatml/system/gen", "chatml", [sys_m] + multi, True, {}),
        ("chatml/non_ascii/gen", "chatml", nonascii, True, {}),
        ("chatml/special_chars/no_gen", "chatml", special, False, {}),
        ("chatml/only_system/gen", "chatml", [sys_m], True, {}),
        ("chatml/error_unknown_role", "chatml", [{"role": "user", "content": "hi"}, {"role": "tool", "content": "x"}], True, {}),
        ("chatml/error_first_not_user", "chatml", [{"role": "assistant", "content": "hi"}], False, {}),
        ("llama31_style/no_tools/gen", "llama31_style", [sys_m] + multi, True, date),
        ("llama31_style/no_system/no_gen", "llama31_style", multi[:2], False, date),
        ("llama31_style/tools/gen", "llama31_style", llama_tool_conv, True, {**date, "tools": [WEATHER_TOOL, SEARCH_TOOL]}),
        ("llama31_style/non_ascii_special/gen", "llama31_style", nonascii + special, True, date),
        ("qwen_style_tools/tools/gen", "qwen_style_tools", tool_conv, True, {"tools": [WEATHER_TOOL]}),
        ("qwen_style_tools/tools_no_system_multi_call/no_gen", "qwen_style_tools", tool_conv_multi, False, {"tools": [WEATHER_TOOL, SEARCH_TOOL]}),
        ("qwen_style_tools/no_tools/gen_enable_thinking_false", "qwen_style_tools", [sys_m] + multi, True, {"enable_thinking": False}),
        ("qwen_style_tools/no_tools_no_system/gen", "qwen_style_tools", special, True, {}),
        ("qwen_style_tools/error_unknown_role", "qwen_style_tools", [{"role": "user", "content": "a"}, {"role": "critic", "content": "b"}], False, {}),
        ("inst_style/system/no_gen", "inst_style", [sys_m] + multi + [{"role": "assistant", "content": " Why did the chicken… 🐔 "}], False, {}),
        ("inst_style/no_system/gen", "inst_style", nonascii, True, {}),
        ("inst_style/special_chars/no_gen", "inst_style", special, False, {}),
        ("inst_style/error_not_alternating", "inst_style", [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], False, {}),
        ("json_meta/system/gen", "json_meta", [sys_m] + nonascii, True, {}),
        ("json_meta/special_chars/no_gen", "json_meta", special, False, {}),
        ("json_meta/error_unknown_role", "json_meta", [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}], False, {}),
    ]
    cases = []
    for name, tname, msgs, agp, extra in specs:
        case = {
            "name": name,
            "template": T[tname],
            "messages": msgs,
            "add_generation_prompt": agp,
            "extra": extra,
            "bos_token": tok.bos_token,
            "eos_token": tok.eos_token,
        }
        try:
            case["expected"] = tok.apply_chat_template(
                msgs, chat_template=T[tname], add_generation_prompt=agp, tokenize=False, **extra
            )
            assert "error" not in name, name
        except jinja2.exceptions.TemplateError as e:
            assert "error" in name, (name, e)
            case["expected"] = None
            case["error_contains"] = str(e)
        cases.append(case)
    return cases


# --------------------------------------------------------------------------------------


def file_entry(path: Path, description: str) -> dict:
    data = path.read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "description": description}


def main() -> None:
    staging = OUT / ".tokenizer_staging"
    if staging.exists():
        shutil.rmtree(staging)
    tok, n_lines = build_tokenizer(staging)
    shutil.rmtree(staging)
    special_ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIALS}
    print("special token ids:", special_ids)

    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    models_info = {}
    for spec in model_specs(special_ids):
        print(f"== {spec['name']}")
        models_info[spec["name"]] = write_model(spec, tok, special_ids)
        print(json.dumps(models_info[spec["name"]], indent=1))

    llama_cfg = json.loads((MODELS_DIR / "llama" / "config.json").read_text())
    print("llama config.json:\n" + json.dumps(llama_cfg, indent=2))
    writer_major = int(llama_cfg["transformers_version"].split(".")[0])
    rope_layout = "rope_parameters" if "rope_parameters" in llama_cfg else "rope_theta/rope_scaling"
    assert (writer_major >= 5) == (rope_layout == "rope_parameters"), (writer_major, rope_layout)

    CT_DIR.mkdir(parents=True, exist_ok=True)
    cases = chat_template_cases(tok)
    (CT_DIR / "cases.json").write_text(json.dumps(cases, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    files = {}
    for p in sorted(OUT.rglob("*")):
        rel = p.relative_to(OUT).as_posix()
        if p.is_file() and rel.startswith(OWN_DIRS):
            files[rel] = file_entry(p, describe(rel))
    # Entries and sections written by other generators (make_adapter_goldens.py) are kept.
    old_manifest = {}
    if (OUT / "MANIFEST.json").exists():
        old_manifest = json.loads((OUT / "MANIFEST.json").read_text(encoding="utf-8"))
        for rel, entry in old_manifest.get("files", {}).items():
            if not rel.startswith(OWN_DIRS) and (OUT / rel).is_file():
                files[rel] = entry
    files = dict(sorted(files.items()))
    manifest = {
        "generator": SCRIPT,
        "command": "/opt/refvenv/bin/python reference/make_model_goldens.py",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "safetensors": safetensors.__version__,
            "jinja2": jinja2.__version__,
        },
        "transformers_major_version_that_wrote_configs": writer_major,
        "config_rope_layout": rope_layout,
        "device": "cpu, torch.set_num_threads(1), attn_implementation=eager",
        "seeds": {
            "corpus": CORPUS_SEED,
            "inputs": INPUT_SEED,
            **{f"model_{k}": v["seed"] for k, v in models_info.items()},
        },
        "tokenizer": {
            "type": "byte-level BPE (tokenizers), ByteLevel pre-tokenizer/decoder, "
            "post-processor Sequence[ByteLevel(trim_offsets=False), TemplateProcessing(BOS $A)]",
            "training_lines": n_lines,
            "vocab_size": len(tok),
            "special_token_ids": special_ids,
            "offsets": "return_offsets_mapping gives character (code point) offsets into the text",
        },
        "chat_template_env": "transformers: ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, "
        "extensions=[loopcontrols]); tojson = json.dumps(ensure_ascii=False, indent=None) (no HTML escaping, "
        "key order kept); raise_exception, strftime_now, namespace globals; render gets messages, tools (None when "
        "absent), documents (None), add_generation_prompt, bos_token/eos_token/pad_token..., then the extra kwargs; "
        "message keys whose value is None are dropped before rendering.",
        "chat_template_sources": "all templates written for this project in the style of well-known model "
        "families (ChatML/Qwen, Llama 3.1, Mistral [INST], Gemma); none copied from a model repository",
        "models": models_info,
        "min_greedy_gaps": {k: v["min_greedy_gap"] for k, v in models_info.items()},
        "golden_definitions": {
            "logits_f32_i": "logits of the model loaded with dtype=float32 (bf16-stored weights upcast), [batch, seq, vocab]",
            "logits_bf16_i": "logits of the model loaded with dtype=bfloat16 (computed in bf16 on CPU), stored as f32",
            "texts.nll_sum": "ids = tokenizer(text) with BOS; sum over j>=1 of -log_softmax(logits_f32[j-1])[ids[j]] "
            "(f32 values, f64 sum); n_tokens = len(ids)-1",
            "chats.nll_sum": "full = render(msgs); assistant spans [len(render(msgs[:i], gen=True)), "
            "len(render(msgs[:i+1]))) in characters; ids, offsets = tokenizer(full, add_special_tokens=False, "
            "return_offsets_mapping=True); token j>=1 scored iff its start offset lies in a span",
            "greedy": "20 tokens, each argmax of the last position of a full no-cache forward pass, no EOS stop",
            "min_greedy_gap": "min over all greedy steps of top1 - top2 logit (f32)",
        },
        "total_bytes": sum(f["size"] for f in files.values()),
        "files": files,
    }
    for key in OTHER_GENERATOR_SECTIONS:
        if key in old_manifest:
            manifest[key] = old_manifest[key]
    (OUT / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("total bytes under tests/golden (excluding MANIFEST):", manifest["total_bytes"])


def describe(rel: str) -> str:
    name = rel.split("/")[-1]
    if rel.startswith("chat_templates/"):
        return "chat-template rendering cases (apply_chat_template, tokenize=False)"
    d = {
        "config.json": "model config as written by save_pretrained",
        "generation_config.json": "generation config; eos_token_id is a list [<|end_of_text|>, <|im_end|>]",
        "model.safetensors": "weights (single file)",
        "model.safetensors.index.json": "shard index (weight_map)",
        "tokenizer.json": "tokenizers-library tokenizer",
        "tokenizer_config.json": "transformers tokenizer config",
        "chat_template.jinja": "chat template (separate file, not in tokenizer_config.json)",
        "special_tokens_map.json": "special tokens map",
        "golden.safetensors": "input_ids_{0,1,2} (int64) and logits_f32_{i}, logits_bf16_{i} (f32)",
        "golden.json": "texts / chats NLL sums, greedy continuations, min_greedy_gap",
    }
    if name.startswith("model-") and name.endswith(".safetensors"):
        return "weights shard"
    return d.get(name, "")


if __name__ == "__main__":
    main()
