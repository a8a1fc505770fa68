#!/usr/bin/python3
"""PyTorch eager peer of longctx's LLaMA training step (issue 2, "Performance").

The same model as src/model: token embedding, n_layers x [RMSNorm -> grouped-query
attention with interleaved (Meta layout) RoPE -> residual, RMSNorm -> SwiGLU MLP ->
residual], final RMSNorm, untied output head, mean softmax cross-entropy; fp32.
q/k/v and gate/up are each one fused Linear (the same fused matrices longctx uses,
which only helps PyTorch). Attention is the plain eager formulation that PyTorch
1.13 offers (no scaled_dot_product_attention): scores (B, H, T, T), causal mask,
softmax, @ V, so its memory grows as T^2.

Run with Debian's torch on the system python (/usr/bin/python3). Prints one JSON
object per line on stdout (progress on stderr).

  pytorch_llama.py speed --config tiny --seq 1024 [--steps 5 --warmup 2]
  pytorch_llama.py memory --config tiny --seqs 1024,4096,16384,32768 [--cap-gb 22]

`memory` runs each T in a child process under an address-space limit
(RLIMIT_AS), so an out-of-memory attempt fails with an allocation error inside
the child and the machine survives; it reports peak RSS (VmHWM) or the failure.
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

# OpenBLAS (pthread build, what Debian's torch links as libblas) sizes its own pool
# from the environment, not from torch.set_num_threads; pin it before torch loads.
DEFAULT_THREADS = int(os.environ.get("LONGCTX_THREADS", "2"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(DEFAULT_THREADS))
os.environ.setdefault("OMP_NUM_THREADS", str(DEFAULT_THREADS))

CONFIGS = {
    "tiny": dict(dim=256, n_layers=4, n_heads=8, n_kv_heads=4, ffn_dim=688, vocab=4096),
    "small": dict(dim=768, n_layers=12, n_heads=12, n_kv_heads=4, ffn_dim=2048, vocab=32000),
}
NORM_EPS = 1e-5
ROPE_BASE = 10000.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def peak_rss_bytes():
    """VmHWM of this process, the same figure core/buffer.h peak_rss_bytes reads."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def model_flops_per_token(cfg, seq):
    """Issue 2's definition: 6 x matmul weights (head included, embedding excluded)
    + 6 x layers x dim x T (causal attention, forward and backward)."""
    c, f, v, l = cfg["dim"], cfg["ffn_dim"], cfg["vocab"], cfg["n_layers"]
    hd = c // cfg["n_heads"]
    qkv = (cfg["n_heads"] + 2 * cfg["n_kv_heads"]) * hd * c
    per_layer = qkv + cfg["n_heads"] * hd * c + 3 * f * c
    weights = l * per_layer + v * c
    return 6 * weights + 6 * l * c * seq


def build_model(torch, cfg, seq):
    nn = torch.nn
    F = torch.nn.functional
    C, H, Hkv, Fd, V = cfg["dim"], cfg["n_heads"], cfg["n_kv_heads"], cfg["ffn_dim"], cfg["vocab"]
    D = C // H

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(C))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPS) * self.weight

    def rope_tables(T):
        # Per-pair angle pos * base^(-2j/D); pair j = (x[2j], x[2j+1]) (interleaved).
        inv = ROPE_BASE ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
        ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
        return torch.cos(ang).float(), torch.sin(ang).float()  # (T, D/2) each

    def apply_rope(x, cos, sin):
        # x (B, h, T, D) -> pairs (B, h, T, D/2, 2)
        xp = x.unflatten(-1, (D // 2, 2))
        x0, x1 = xp[..., 0], xp[..., 1]
        y0 = x0 * cos - x1 * sin
        y1 = x0 * sin + x1 * cos
        return torch.stack((y0, y1), dim=-1).flatten(-2)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(C, (H + 2 * Hkv) * D, bias=False)
            self.o = nn.Linear(H * D, C, bias=False)

        def forward(self, x, cos, sin, mask):
            B, T, _ = x.shape
            q, k, v = self.qkv(x).split([H * D, Hkv * D, Hkv * D], dim=-1)
            q = q.view(B, T, H, D).transpose(1, 2)
            k = k.view(B, T, Hkv, D).transpose(1, 2)
            v = v.view(B, T, Hkv, D).transpose(1, 2)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            rep = H // Hkv  # query head h reads kv head h // rep
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D))  # (B, H, T, T)
            scores = scores.masked_fill(mask, float("-inf"))
            probs = torch.softmax(scores, dim=-1)
            out = (probs @ v).transpose(1, 2).reshape(B, T, H * D)
            return self.o(out)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate_up = nn.Linear(C, 2 * Fd, bias=False)
            self.down = nn.Linear(Fd, C, bias=False)

        def forward(self, x):
            g, u = self.gate_up(x).chunk(2, dim=-1)
            return self.down(F.silu(g) * u)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn_norm, self.attn = RMSNorm(), Attention()
            self.mlp_norm, self.mlp = RMSNorm(), MLP()

        def forward(self, x, cos, sin, mask):
            x = x + self.attn(self.attn_norm(x), cos, sin, mask)
            return x + self.mlp(self.mlp_norm(x))

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, C)
            self.layers = nn.ModuleList(Block() for _ in range(cfg["n_layers"]))
            self.norm = RMSNorm()
            self.head = nn.Linear(C, V, bias=False)  # untied
            cos, sin = rope_tables(seq)
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)
            self.register_buffer(
                "mask", torch.ones(seq, seq, dtype=torch.bool).triu(1), persistent=False)
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    nn.init.normal_(p, std=0.02)

        def forward(self, tokens, targets):
            x = self.embed(tokens)
            for layer in self.layers:
                x = layer(x, self.cos, self.sin, self.mask)
            logits = self.head(self.norm(x))
            return F.cross_entropy(logits.view(-1, V), targets.view(-1))

    return Llama()


def make_optimizer(torch, model):
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=3e-4, betas=(0.9, 0.95), eps=1e-8)


def train_steps(config, seq, batch, steps, warmup, threads):
    """Builds the model, runs warmup + steps AdamW steps; returns a result dict."""
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = CONFIGS[config]
    model = build_model(torch, cfg, seq)
    opt = make_optimizer(torch, model)
    gen = torch.Generator().manual_seed(1)
    data = torch.randint(0, cfg["vocab"], (batch, seq + 1), generator=gen)
    tokens, targets = data[:, :-1].contiguous(), data[:, 1:].contiguous()
    rss_after_init = peak_rss_bytes()
    times, losses = [], []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(tokens, targets)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        losses.append(float(loss))
        log(f"  {config} T={seq} step {i} ({'warm-up' if i < warmup else 'timed'}): "
            f"{dt:.2f} s, loss {losses[-1]:.4f}")
        if i >= warmup:
            times.append(dt)
    n_params = sum(p.numel() for p in model.parameters())
    step_s = sum(times) / len(times)
    tok_s = batch * seq / step_s
    flops = model_flops_per_token(cfg, seq)
    return {
        "bench": "pytorch_train_step", "impl": "pytorch-eager", "torch": torch.__version__,
        "config": config, "seq": seq, "batch": batch, "threads": threads,
        "steps": steps, "warmup": warmup, "params": n_params,
        "step_s_mean": step_s, "step_s_min": min(times), "step_s_max": max(times),
        "tokens_per_s": tok_s, "tokens_per_s_best": batch * seq / min(times),
        "model_flops_per_token": flops, "achieved_gflops": flops * tok_s / 1e9,
        "loss_first": losses[0], "loss_last": losses[-1],
        "rss_after_init_bytes": rss_after_init, "peak_rss_bytes": peak_rss_bytes(),
    }


def cmd_speed(args):
    res = train_steps(args.config, args.seq, args.batch, args.steps, args.warmup, args.threads)
    print(json.dumps(res), flush=True)


def mem_available_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def cmd_child(args):
    """One memory probe (run as a child): apply the cap, train, report or fail."""
    cap = int(args.cap_bytes)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        res = train_steps(args.config, args.seq, 1, args.steps, args.warmup, args.threads)
        res.update(bench="pytorch_memory", ok=True, cap_bytes=cap)
    except (RuntimeError, MemoryError) as e:
        msg = str(e).strip().splitlines()[0][:300]
        res = {"bench": "pytorch_memory", "impl": "pytorch-eager", "config": args.config,
               "seq": args.seq, "ok": False, "cap_bytes": cap, "error": msg,
               "peak_rss_bytes": peak_rss_bytes()}
    print(json.dumps(res), flush=True)


def cmd_memory(args):
    cap_gb = args.cap_gb
    # Never let a probe take the machine down: stay 1.5 GB below what is free now.
    avail_gb = mem_available_bytes() / 2**30
    if cap_gb > avail_gb - 1.5:
        log(f"memory: lowering cap from {cap_gb} GB to {avail_gb - 1.5:.1f} GB (MemAvailable)")
        cap_gb = avail_gb - 1.5
    cap = int(cap_gb * 2**30)
    for seq in [int(s) for s in args.seqs.split(",")]:
        cmd = [sys.executable, os.path.abspath(__file__), "_child", "--config", args.config,
               "--seq", str(seq), "--cap-bytes", str(cap), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--threads", str(args.threads)]
        log(f"memory probe {args.config} T={seq} cap {cap / 2**30:.1f} GiB")
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        if lines:
            res = json.loads(lines[-1])
        else:  # killed without a word (e.g. the kernel OOM killer)
            res = {"bench": "pytorch_memory", "impl": "pytorch-eager", "config": args.config,
                   "seq": seq, "ok": False, "cap_bytes": cap,
                   "error": f"child exited with status {p.returncode} and no result"}
        res["wall_s"] = time.perf_counter() - t0
        print(json.dumps(res), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("speed", "memory", "_child"):
        p = sub.add_parser(name)
        p.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
        p.add_argument("--threads", type=int, default=DEFAULT_THREADS)
        p.add_argument("--steps", type=int, default=5 if name == "speed" else 2)
        p.add_argument("--warmup", type=int, default=2 if name == "speed" else 1)
        if name == "speed":
            p.add_argument("--seq", type=int, default=1024)
            p.add_argument("--batch", type=int, default=1)
        elif name == "memory":
            p.add_argument("--seqs", default="1024,4096,16384,32768")
            p.add_argument("--cap-gb", type=float, default=22.0)
        else:
            p.add_argument("--seq", type=int, required=True)
            p.add_argument("--cap-bytes", required=True)
    args = ap.parse_args()
    {"speed": cmd_speed, "memory": cmd_memory, "_child": cmd_child}[args.cmd](args)


if __name__ == "__main__":
    main()
