#!/usr/bin/python3
"""Golden values for zerots' autograd/nn tests, computed by PyTorch (1.13, CPU, float64).

Builds the tiny GPT (GPT-2 architecture: learned positions, pre-LN blocks, GELU tanh, LM head tied to wte;
GPT-2 parameter names and Conv1D layouts, weight [in, out]) and an MLP classifier from weights generated here,
and writes, for each model, into test/fixtures/<name>.bin (float32 little-endian) + <name>.json (manifest):
  init/<param>   the weights both sides load
  logits         forward output on the fixed batch
  grad/<param>   d(mean cross-entropy)/d(param) at init
  step3/<param>  the parameters after 3 AdamW steps on the same batch (torch.optim.AdamW, decay on >=2-D weights)
and in the JSON: the batch, the loss at init and before each step, the optimizer settings.
The math runs in float64, so the fixture is the exact answer rounded once to float32; zerots (fp32) should match it
to ~1e-5 relative. Run: /usr/bin/python3 tools/golden_gpt.py  (rewrites the fixtures deterministically).
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures')
ADAM = dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
STEPS = 3


def gpt_params(cfg, g):
    """GPT-2 state-dict order and layouts."""
    V, T, C, L = cfg['vocabSize'], cfg['blockSize'], cfg['nEmbd'], cfg['nLayer']
    n = lambda *shape, std=0.02: torch.randn(*shape, generator=g) * std
    ln_w = lambda: 1.0 + n(C, std=0.1)
    p = {'wte.weight': n(V, C), 'wpe.weight': n(T, C, std=0.01)}
    proj_std = 0.02 / math.sqrt(2 * L)
    for i in range(L):
        h = f'h.{i}.'
        p[h + 'ln_1.weight'] = ln_w(); p[h + 'ln_1.bias'] = n(C)
        p[h + 'attn.c_attn.weight'] = n(C, 3 * C); p[h + 'attn.c_attn.bias'] = n(3 * C)
        p[h + 'attn.c_proj.weight'] = n(C, C, std=proj_std); p[h + 'attn.c_proj.bias'] = n(C)
        p[h + 'ln_2.weight'] = ln_w(); p[h + 'ln_2.bias'] = n(C)
        p[h + 'mlp.c_fc.weight'] = n(C, 4 * C); p[h + 'mlp.c_fc.bias'] = n(4 * C)
        p[h + 'mlp.c_proj.weight'] = n(4 * C, C, std=proj_std); p[h + 'mlp.c_proj.bias'] = n(C)
    p['ln_f.weight'] = ln_w(); p['ln_f.bias'] = n(C)
    return p


def gpt_forward(p, cfg, idx):
    B, T = idx.shape
    C, nh = cfg['nEmbd'], cfg['nHead']
    hs = C // nh
    x = p['wte.weight'][idx] + p['wpe.weight'][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(cfg['nLayer']):
        h = f'h.{i}.'
        a = F.layer_norm(x, (C,), p[h + 'ln_1.weight'], p[h + 'ln_1.bias'], 1e-5)
        qkv = a @ p[h + 'attn.c_attn.weight'] + p[h + 'attn.c_attn.bias']
        q, k, v = qkv.split(C, dim=2)
        q, k, v = (t.view(B, T, nh, hs).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float('-inf')).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + (y @ p[h + 'attn.c_proj.weight'] + p[h + 'attn.c_proj.bias'])
        m = F.layer_norm(x, (C,), p[h + 'ln_2.weight'], p[h + 'ln_2.bias'], 1e-5)
        m = F.gelu(m @ p[h + 'mlp.c_fc.weight'] + p[h + 'mlp.c_fc.bias'], approximate='tanh')
        x = x + (m @ p[h + 'mlp.c_proj.weight'] + p[h + 'mlp.c_proj.bias'])
    x = F.layer_norm(x, (C,), p['ln_f.weight'], p['ln_f.bias'], 1e-5)
    return x @ p['wte.weight'].t()


def mlp_params(cfg, g):
    dims = [cfg['inDim']] + cfg['hidden'] + [cfg['classes']]
    p = {}
    for i in range(len(dims) - 1):
        p[f'fc.{i}.weight'] = torch.randn(dims[i], dims[i + 1], generator=g) / math.sqrt(dims[i])
        p[f'fc.{i}.bias'] = torch.randn(dims[i + 1], generator=g) * 0.1
    return p


def mlp_forward(p, cfg, x):
    n = len(cfg['hidden']) + 1
    for i in range(n):
        x = x @ p[f'fc.{i}.weight'] + p[f'fc.{i}.bias']
        if i < n - 1:
            x = F.gelu(x, approximate='tanh')
    return x


def f32(t):
    """Round to float32 (what the fixture stores) so both sides start from the very same numbers."""
    return t.to(torch.float32).to(torch.float64)


def run(name, cfg, params, forward, inp, targets, extra):
    params = {k: f32(v).requires_grad_(True) for k, v in params.items()}
    names = list(params)
    blobs, tensors = [], {}

    def put(key, t):
        a = t.detach().to(torch.float32).contiguous()
        off = sum(b.numel() for b in blobs)
        blobs.append(a.reshape(-1))
        tensors[key] = {'offset': off, 'shape': list(a.shape)}

    for k in names:
        put('init/' + k, params[k])
    loss_fn = lambda logits: F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)
    logits = forward(params, cfg, inp)
    loss = loss_fn(logits)
    loss.backward()
    put('logits', logits)
    for k in names:
        put('grad/' + k, params[k].grad)
    decay = [params[k] for k in names if params[k].dim() >= 2]
    no_decay = [params[k] for k in names if params[k].dim() < 2]
    opt = torch.optim.AdamW([{'params': decay}, {'params': no_decay, 'weight_decay': 0.0}], **ADAM)
    step_losses = []
    for s in range(STEPS):
        if s > 0:
            opt.zero_grad(set_to_none=True)
            l = loss_fn(forward(params, cfg, inp))
            l.backward()
            step_losses.append(l.item())
        else:
            step_losses.append(loss.item())
        opt.step()
    for k in names:
        put(f'step{STEPS}/' + k, params[k])
    data = torch.cat(blobs).numpy().astype('<f4').tobytes()
    with open(os.path.join(OUT, name + '.bin'), 'wb') as f:
        f.write(data)
    manifest = {
        'generator': 'tools/golden_gpt.py (PyTorch %s, float64, rounded to float32)' % torch.__version__,
        'config': cfg, 'params': [{'name': k, 'shape': list(params[k].shape)} for k in names],
        'targets': targets.reshape(-1).tolist(), 'loss': loss.item(), 'stepLosses': step_losses,
        'adamw': {**ADAM, 'betas': list(ADAM['betas']), 'steps': STEPS, 'decay': 'weights with >= 2 dims'},
        'file': name + '.bin', 'tensors': tensors, **extra,
    }
    with open(os.path.join(OUT, name + '.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
    print(f'{name}: loss {loss.item():.6f}, {len(data)} bytes', file=sys.stderr)


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(1234)
    cfg = {'vocabSize': 256, 'blockSize': 32, 'nLayer': 2, 'nHead': 4, 'nEmbd': 64}
    B, T = 2, 32
    idx = torch.randint(0, 256, (B, T), generator=g)
    targets = torch.randint(0, 256, (B, T), generator=g)
    targets[1, 5] = -1  # an ignored position: it must get no loss and no gradient
    run('gpt_tiny', cfg, gpt_params(cfg, g), gpt_forward, idx, targets,
        {'batch': [B, T], 'idx': idx.reshape(-1).tolist()})

    mcfg = {'inDim': 16, 'hidden': [32, 32], 'classes': 5}
    N = 12
    x = f32(torch.randn(N, mcfg['inDim'], generator=g))
    y = torch.randint(0, mcfg['classes'], (N,), generator=g)
    run('mlp_classifier', mcfg, mlp_params(mcfg, g), mlp_forward, x, y,
        {'batch': [N], 'x': x.to(torch.float32).reshape(-1).tolist()})


if __name__ == '__main__':
    main()
