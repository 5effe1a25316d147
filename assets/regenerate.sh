#!/usr/bin/env bash
# Regenerates the bundled base model (assets/base-model) and the sample support dataset with its
# eval sets (assets/sample-data: train, valid, test, glossary, general) from nothing but this
# repository: the corpus and the dataset come from the deterministic generator in
# crates/whet-assetgen, the tokenizer from `whet tokenizer train`, the weights from
# `whet train configs/base-pretrain.toml` (random init). Bit-for-bit the same on the
# same CPU kind; about 35 minutes on two cores, build included.
#
#   bash assets/regenerate.sh            # then: git diff --stat assets/
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p whet-cli -p whet-assetgen
whet=target/release/whet
gen=target/release/whet-assetgen
work=target/assets-build
rm -rf "$work"
mkdir -p "$work/init"

"$gen" corpus --out "$work/corpus.jsonl"
"$gen" domain --out "$work/sample-data"
"$whet" tokenizer train --data "$work/corpus.jsonl" --vocab-size 2048 --chat-template chatml --out "$work/tokenizer"
cp "$work"/tokenizer/* "$work/init/"
cp assets/base-recipe/config.json assets/base-recipe/generation_config.json "$work/init/"
"$whet" train configs/base-pretrain.toml --quiet

rm -rf assets/base-model assets/sample-data
mkdir -p assets/base-model
cp "$work"/pretrain/model/{config.json,generation_config.json,model.safetensors,tokenizer.json,tokenizer_config.json} assets/base-model/
cp -r "$work/sample-data" assets/sample-data
cp "$work/pretrain/loss.png" assets/base-recipe/pretrain-loss.png
sha256sum assets/base-model/* assets/sample-data/*
