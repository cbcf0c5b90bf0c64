#!/usr/bin/python3
"""Loads a folder written by `zerots consolidate` (or engine.saveWeights) into PyTorch with GPT-2's layout and
compares its logits with zerots's on the same tokens.

  /usr/bin/python3 tools/compare_hf_gpt2.py <folder> [--tokens 0,5,3,...]

With Hugging Face transformers installed the folder is read by GPT2LMHeadModel.from_pretrained itself; without it
the safetensors file is parsed here (8-byte header length, JSON header, raw little-endian data) and run through the
plain-PyTorch GPT-2 forward of tools/golden_gpt.py (float64), after the names' `transformer.` prefix is removed.
zerots's logits come from tools/zerots_logits.mjs (build first: npm run build). Prints the largest absolute
difference and the agreement of the arg-max tokens; exits 1 when the logits differ by more than 1e-3.
"""
import json
import os
import struct
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_gpt import gpt_forward  # noqa: E402

DTYPES = {'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16}


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        if name == '__metadata__':
            continue
        b, e = t['data_offsets']
        buf = bytearray(data[b:e])
        out[name] = torch.frombuffer(buf, dtype=DTYPES[t['dtype']]).reshape(t['shape']).to(torch.float64) if e > b \
            else torch.zeros(t['shape'], dtype=torch.float64)
    return out


def torch_logits(folder, cfg, tokens):
    idx = torch.tensor(tokens, dtype=torch.long)
    try:
        from transformers import GPT2LMHeadModel  # optional
        model = GPT2LMHeadModel.from_pretrained(folder, torch_dtype=torch.float64).eval()
        with torch.no_grad():
            return model(idx).logits, 'transformers GPT2LMHeadModel.from_pretrained'
    except ImportError:
        pass
    sd = read_safetensors(os.path.join(folder, 'model.safetensors'))
    p = {k[len('transformer.'):] if k.startswith('transformer.') else k: v for k, v in sd.items()}
    c = {'nEmbd': cfg['n_embd'], 'nHead': cfg['n_head'], 'nLayer': cfg['n_layer']}
    with torch.no_grad():
        return gpt_forward(p, c, idx), 'plain PyTorch GPT-2 forward (tools/golden_gpt.py), float64'


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    folder = sys.argv[1]
    cfg = json.load(open(os.path.join(folder, 'config.json')))
    if '--tokens' in sys.argv:
        row = [int(x) for x in sys.argv[sys.argv.index('--tokens') + 1].split(',')]
    else:
        g = torch.Generator().manual_seed(0)
        row = torch.randint(0, cfg['vocab_size'], (min(16, cfg['n_positions']),), generator=g).tolist()
    tokens = [row]
    ref, how = torch_logits(folder, cfg, tokens)
    out = subprocess.run(['node', os.path.join(HERE, 'zerots_logits.mjs'), folder, json.dumps(tokens)],
                         check=True, capture_output=True, text=True).stdout
    z = json.loads(out)
    zl = torch.tensor(z['logits'], dtype=torch.float64).reshape(z['shape'])
    diff = (zl - ref).abs().max().item()
    same = (zl.argmax(-1) == ref.argmax(-1)).float().mean().item()
    print(f'PyTorch: {how}')
    print(f'tokens {row}')
    print(f'logits {list(ref.shape)}: max |zerots - torch| = {diff:.3e}, max |torch| = {ref.abs().max().item():.3f}, '
          f'arg-max agreement {same * 100:.1f}%')
    print(json.dumps({'compare': {'maxAbsDiff': diff, 'argmaxAgreement': same, 'reference': how}}))
    sys.exit(0 if diff < 1e-3 else 1)


if __name__ == '__main__':
    main()
