"""PyTorch side of bench/model-decompositions.mjs: the SVD/QR work of PEFT's PiSSA and OLoRA inits on a
SmolLM2-135M-shaped Llama (hidden 576, 9 heads / 3 KV heads, intermediate 1536, random weights, seed 0).

Usage:
  python smol_torch_decompositions.py DIR --make [--layers N]   writes DIR/config.json + DIR/model.safetensors
  python smol_torch_decompositions.py DIR [--rank 16] [--skip-peft | --peft-only]

The model is the one ../shared/bench/smol_torch.py builds (same config and seed). Prints JSON lines
{"impl": "torch", "bench": ..., "ms": ...}: per projection type and in total, the decompositions PEFT runs
(torch.linalg.svd(W, full_matrices=False) for "pissa", torch.svd_lowrank(W, q=r, niter=4) for
"pissa_niter_4", torch.linalg.qr(W) for "olora"), each matrix timed on its own (one warm-up pass first), and
PEFT's whole init (get_peft_model with target_modules="all-linear") timed as smol_torch.py does.
Threads: THREADS (default 2).
"""
import json
import os
import sys
import time

import torch

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
directory = sys.argv[1]
layers = int(sys.argv[sys.argv.index("--layers") + 1]) if "--layers" in sys.argv else 8
rank = int(sys.argv[sys.argv.index("--rank") + 1]) if "--rank" in sys.argv else 16

if "--make" in sys.argv:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=layers,
                         num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=2048,
                         rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True, bos_token_id=1,
                         eos_token_id=2)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(directory, safe_serialization=True)
    print(json.dumps({"made": directory, "layers": layers, "params": sum(p.numel() for p in model.parameters())}))
    sys.exit(0)

from safetensors.torch import load_file  # noqa: E402

weights = {name: value for name, value in load_file(os.path.join(directory, "model.safetensors")).items()
           if name.endswith("_proj.weight")}


def emit(bench, ms, **extra):
    print(json.dumps({"impl": "torch", "bench": bench, "ms": round(ms, 2), **extra}), flush=True)


def kind(name):
    return name.split(".")[-2]


decompositions = {
    "svd": lambda w: torch.linalg.svd(w, full_matrices=False),
    "svd_lowrank_niter4": lambda w: torch.svd_lowrank(w, q=rank, niter=4),
    "qr": lambda w: torch.linalg.qr(w),
}
for label, decompose in ({} if "--peft-only" in sys.argv else decompositions).items():
    for name, w in weights.items():
        if ".layers.0." in name:
            decompose(w)  # warm-up
    per_kind = {}
    for name, w in weights.items():
        start = time.perf_counter()
        decompose(w)
        per_kind.setdefault(kind(name), []).append((time.perf_counter() - start) * 1000)
    for projection, times in per_kind.items():
        emit(f"{label}_{projection}", sum(times) / len(times), matrices=len(times), shape=list(
            next(w.shape for n, w in weights.items() if kind(n) == projection)))
    emit(f"{label}_all_linear", sum(sum(times) for times in per_kind.values()), matrices=len(weights))

if "--skip-peft" not in sys.argv:
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    for init in ["pissa", "pissa_niter_4", "olora"]:
        base = LlamaForCausalLM.from_pretrained(directory, torch_dtype=torch.float32)
        start = time.perf_counter()
        get_peft_model(base, LoraConfig(r=rank, lora_alpha=rank, target_modules="all-linear", init_lora_weights=init))
        emit(f"init_{init}_all_linear_r{rank}", (time.perf_counter() - start) * 1000)
        del base
