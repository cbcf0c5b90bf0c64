#!/usr/bin/env node
// zerots's logits for a consolidated GPT-2 folder (model.safetensors + config.json), for tools/compare_hf_gpt2.py:
//   node tools/zerots_logits.mjs <folder> '<tokens as a JSON [B][T] array>'   -> JSON {shape, logits} on stdout
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Device } from '../dist/src/tensor/device.js';
import { GPT } from '../dist/src/nn/gpt.js';
import { Tape } from '../dist/src/autograd/tape.js';
import { loadModelWeights } from '../dist/src/checkpoint/model-weights.js';

const [folder, tokensJson] = process.argv.slice(2);
const cfg = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));
const tokens = JSON.parse(tokensJson);
const device = new Device({ capacityBytes: 2 ** 31, kernels: 'wasm' });
const gpt = new GPT(device, {
  vocabSize: cfg.vocab_size,
  blockSize: cfg.n_positions,
  nLayer: cfg.n_layer,
  nHead: cfg.n_head,
  nEmbd: cfg.n_embd,
  seed: 0,
});
loadModelWeights(gpt, folder);
const tape = new Tape(device);
const { logits } = gpt.forward(tape, tokens);
process.stdout.write(JSON.stringify({ shape: logits.shape, logits: Array.from(logits.toFloat32()) }));
