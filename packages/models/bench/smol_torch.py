"""Side-by-side anchor: PyTorch + PEFT on a SmolLM2-135M-shaped Llama (random weights, seed 0).

Usage: python smol_torch.py DIR [--layers N] [--make]
  --make  writes DIR/config.json + DIR/model.safetensors (the same model the Node side loads)
Prints JSON lines: {"impl":"torch", "bench":..., "ms":...}.

The PyTorch half of bench/smol.mjs, copied unchanged (apart from this paragraph) from the project's shared
benchmark (shared/bench/smol_torch.py, which its vs-pytorch.sh runs), so both produce the same model and the
same bench names. Run it through smol.mjs, which sets 2 threads and OMP_WAIT_POLICY=PASSIVE.
"""
import json, os, sys, time
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from peft import LoraConfig, get_peft_model

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
d = sys.argv[1]
layers = int(sys.argv[sys.argv.index("--layers") + 1]) if "--layers" in sys.argv else 30
cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=layers,
                  num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=2048, rms_norm_eps=1e-5,
                  rope_theta=100000.0, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)
if "--make" in sys.argv:
    torch.manual_seed(0)
    m = LlamaForCausalLM(cfg).eval()
    m.save_pretrained(d, safe_serialization=True)
    print(json.dumps({"made": d, "params": sum(p.numel() for p in m.parameters())}))
    sys.exit(0)

def out(bench, ms, **kw):
    print(json.dumps({"impl": "torch", "bench": bench, "ms": round(ms, 2), **kw}), flush=True)

def best(fn, reps=3):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append((time.perf_counter() - t) * 1000)
    return min(ts)

model = LlamaForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
g = torch.Generator().manual_seed(1)
ids256 = torch.randint(0, 49152, (1, 256), generator=g)
with torch.no_grad():
    out("forward_1x256", best(lambda: model(ids256)), tokens=256)
    # generation: 32 new tokens after a 16-token prompt, greedy, with cache
    prompt = ids256[:, :16]
    out("generate_32", best(lambda: model.generate(prompt, max_new_tokens=32, min_new_tokens=32, do_sample=False), 2), tokens=32)

# PiSSA init (exact SVD, all linear layers, r=16) and pissa_niter_4
for init in ["pissa_niter_4", "pissa"]:
    base = LlamaForCausalLM.from_pretrained(d, torch_dtype=torch.float32)
    t = time.perf_counter()
    get_peft_model(base, LoraConfig(r=16, lora_alpha=16, target_modules="all-linear", init_lora_weights=init))
    out(f"init_{init}_all_linear_r16", (time.perf_counter() - t) * 1000)
    del base

# LoRA r16 q,v training step, batch 4x128, AdamW
base = LlamaForCausalLM.from_pretrained(d, torch_dtype=torch.float32)
pm = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "v_proj"]))
pm.train()
opt = torch.optim.AdamW([p for p in pm.parameters() if p.requires_grad], lr=1e-4)
batch = torch.randint(0, 49152, (4, 128), generator=g)
def step():
    loss = pm(input_ids=batch, labels=batch).loss
    loss.backward(); opt.step(); opt.zero_grad()
out("train_step_lora_qv_r16_4x128", best(step, 3), tokens=512)
import resource
print(json.dumps({"impl": "torch", "bench": "peak_rss_mb", "ms": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
