"""The PyTorch peer of `zerots bench zero --peer torch`: the same GPT (pre-LayerNorm, tied embeddings, tanh GELU)
trained by N processes over gloo, as PyTorch DDP + AdamW (the peer of ZeRO stage 0) and as DDP +
ZeroRedundancyOptimizer(AdamW) (the peer of stage 1), fp32, each process on cores / N threads.

usage: python3 tools/torch_zero_peer.py '{"vocabSize":256,"blockSize":128,"nLayer":4,"nHead":4,"nEmbd":256,
        "microBatch":4,"steps":12,"untimedSteps":2,"lr":0.001,"worldSize":2}'
Prints one JSON line: {"torch": version, "ddp_tokens_per_s": .., "zero1_tokens_per_s": .., ...}; tokens/s is the
global tokens per step over rank 0's median timed step, as zerots bench zero counts them.
"""
import json
import math
import os
import socket
import sys
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def build(torch, cfg):
    nn = torch.nn
    F = torch.nn.functional
    V, T, L, H, C = cfg["vocabSize"], cfg["blockSize"], cfg["nLayer"], cfg["nHead"], cfg["nEmbd"]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1 = nn.LayerNorm(C)
            self.attn = nn.Linear(C, 3 * C)
            self.proj = nn.Linear(C, C)
            self.l2 = nn.LayerNorm(C)
            self.fc = nn.Linear(C, 4 * C)
            self.out = nn.Linear(4 * C, C)

        def forward(self, x):
            B = x.shape[0]
            q, k, v = self.attn(self.l1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
            att = att.masked_fill(~self.mask, float("-inf")).softmax(dim=-1)
            x = x + self.proj((att @ v).transpose(1, 2).reshape(B, T, C))
            return x + self.out(F.gelu(self.fc(self.l2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(V, C)
            self.wpe = nn.Embedding(T, C)
            self.blocks = nn.ModuleList(Block() for _ in range(L))
            self.lf = nn.LayerNorm(C)
            mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
            for b in self.blocks:
                b.mask = mask  # a plain attribute: gloo cannot broadcast a bool buffer, and it never changes

        def forward(self, idx, tgt):
            x = self.wte(idx) + self.wpe.weight[:T]
            for b in self.blocks:
                x = b(x)
            logits = self.lf(x) @ self.wte.weight.t()
            return F.cross_entropy(logits.view(-1, V), tgt.view(-1))

    return GPT()


def rank_main(rank, cfg, port, kind, out):
    try:
        run_rank(rank, cfg, port, kind, out)
    except BaseException as e:  # report, so the parent does not wait for a result that never comes
        import traceback

        traceback.print_exc()
        out.put(f"rank {rank}: {type(e).__name__}: {e}")


def run_rank(rank, cfg, port, kind, out):
    import torch
    import torch.distributed as dist
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel as DDP

    N = cfg["worldSize"]
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // N))
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=N)
    torch.manual_seed(1337)
    model = DDP(build(torch, cfg))
    betas = (0.9, 0.95)
    if kind == "zero1":
        opt = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=torch.optim.AdamW, lr=cfg["lr"], betas=betas)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], betas=betas)
    g = torch.Generator().manual_seed(rank)
    B, T, V = cfg["microBatch"], cfg["blockSize"], cfg["vocabSize"]
    idx = torch.randint(0, V, (B, T), generator=g)
    tgt = torch.randint(0, V, (B, T), generator=g)
    times = []
    for s in range(cfg["steps"]):
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        model(idx, tgt).backward()
        opt.step()
        if s >= cfg["untimedSteps"]:
            times.append(time.perf_counter() - t0)
    if rank == 0:
        times.sort()
        out.put(times[len(times) // 2])
    dist.destroy_process_group()


def main():
    cfg = json.loads(sys.argv[1])
    try:
        import torch
        import torch.multiprocessing as mp
    except Exception as e:  # no PyTorch: say so in the JSON
        print(json.dumps({"torch": None, "reason": str(e)}))
        return
    N = cfg["worldSize"]
    tokens = N * cfg["microBatch"] * cfg["blockSize"]
    res = {"torch": torch.__version__, "world_size": N, "threads_per_rank": max(1, (os.cpu_count() or 1) // N)}
    ctx = mp.get_context("spawn")
    for kind in ("ddp", "zero1"):
        q = ctx.Queue()
        port = free_port()
        procs = [ctx.Process(target=rank_main, args=(r, cfg, port, kind, q)) for r in range(N)]
        for p in procs:
            p.start()
        step = q.get(timeout=900)
        for p in procs:
            p.join()
        if isinstance(step, str):
            print(json.dumps({"torch": None, "reason": step}))
            return
        res[f"{kind}_step_s"] = step
        res[f"{kind}_tokens_per_s"] = tokens / step
    libs = [l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.lower() and ".so" in l]
    res["blas"] = next((l for l in libs if "openblas" in l), libs[0] if libs else None)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
