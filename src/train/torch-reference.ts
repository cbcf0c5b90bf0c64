// The PyTorch side of `bench train`: the same GPT (GPT-2 architecture, Conv1D layouts, tied head), the same batch
// shape, forward + backward + AdamW, timed like ours. Run with /usr/bin/python3; prints one JSON line.
// argv: config JSON, steps, threads, clock ('cpu' = process CPU time, 'wall').
export const TORCH_TRAIN_BENCH = `
import json, math, sys, time
try:
    import torch
    import torch.nn.functional as F
except Exception:
    print(json.dumps({"torch": None})); sys.exit(0)
cfg = json.loads(sys.argv[1]); steps = int(sys.argv[2]); threads = int(sys.argv[3])
clock = time.process_time if sys.argv[4] == 'cpu' else time.perf_counter
torch.set_num_threads(threads)
torch.manual_seed(0)
V, T, L, H, C, B = cfg['vocabSize'], cfg['blockSize'], cfg['nLayer'], cfg['nHead'], cfg['nEmbd'], cfg['B']
def w(*s, std=0.02): return (torch.randn(*s) * std).requires_grad_(True)
def z(*s): return torch.zeros(*s).requires_grad_(True)
def o(*s): return torch.ones(*s).requires_grad_(True)
p = {'wte': w(V, C), 'wpe': w(T, C)}
for i in range(L):
    p.update({f'{i}.l1w': o(C), f'{i}.l1b': z(C), f'{i}.aw': w(C, 3 * C), f'{i}.ab': z(3 * C), f'{i}.pw': w(C, C), f'{i}.pb': z(C),
              f'{i}.l2w': o(C), f'{i}.l2b': z(C), f'{i}.fw': w(C, 4 * C), f'{i}.fb': z(4 * C), f'{i}.qw': w(4 * C, C), f'{i}.qb': z(C)})
p['lfw'] = o(C); p['lfb'] = z(C)
mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
hs = C // H
def forward(idx, tgt):
    x = p['wte'][idx] + p['wpe'][:T]
    for i in range(L):
        a = F.layer_norm(x, (C,), p[f'{i}.l1w'], p[f'{i}.l1b'], 1e-5)
        q, k, v = torch.addmm(p[f'{i}.ab'], a.view(-1, C), p[f'{i}.aw']).view(B, T, 3 * C).split(C, dim=2)
        q, k, v = (t.view(B, T, H, hs).transpose(1, 2) for t in (q, k, v))
        att = ((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))).masked_fill(~mask, float('-inf')).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(-1, C)
        x = x + torch.addmm(p[f'{i}.pb'], y, p[f'{i}.pw']).view(B, T, C)
        m = F.layer_norm(x, (C,), p[f'{i}.l2w'], p[f'{i}.l2b'], 1e-5).view(-1, C)
        m = F.gelu(torch.addmm(p[f'{i}.fb'], m, p[f'{i}.fw']), approximate='tanh')
        x = x + torch.addmm(p[f'{i}.qb'], m, p[f'{i}.qw']).view(B, T, C)
    x = F.layer_norm(x, (C,), p['lfw'], p['lfb'], 1e-5)
    return F.cross_entropy((x.view(-1, C) @ p['wte'].t()), tgt.view(-1))
opt = torch.optim.AdamW(list(p.values()), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
idx = torch.randint(0, V, (B, T)); tgt = torch.randint(0, V, (B, T))
def step():
    opt.zero_grad(set_to_none=True)
    loss = forward(idx, tgt); loss.backward(); opt.step()
step()
best = 1e9
for _ in range(steps):
    t0 = clock(); step(); best = min(best, clock() - t0)
libs = [l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l.lower() and '.so' in l]
blas = next((l for l in libs if 'openblas' in l), libs[0] if libs else None)
print(json.dumps({"torch": torch.__version__, "step_s": best, "tokens_per_s": B * T / best, "threads": threads, "blas": blas}))
`;
