"""Copies the add_weighted_adapter fixtures that test/combine*.test.ts read (peft/combine_more/, plus the eval
logits of peft/weighted/) from the shared fixtures into test/fixtures, byte for byte.

Run from packages/adapters: python3 scripts/copy-combine-fixtures.py /path/to/shared/fixtures
(scripts/copy-fixtures.py copies the rest of peft/weighted/.)
"""
import os
import shutil
import sys

source = sys.argv[1]
target = os.path.join("test", "fixtures")


def copy(relative):
    os.makedirs(os.path.dirname(os.path.join(target, relative)), exist_ok=True)
    shutil.copyfile(os.path.join(source, relative), os.path.join(target, relative))


labels = ["ties", "magnitude_prune", "dare_linear", "dare_ties", "ties_svd", "dare_linear_density1", "dare_ties_density1"]
case = os.path.join("peft", "combine_more")
for name in ["case.json", "io.safetensors", "deltas_exact_weighted_sum.safetensors"]:
    copy(os.path.join(case, name))
for folder in ["adapter_b_trained"] + [os.path.join("combined", f"combined_{label}") for label in labels]:
    copy(os.path.join(case, folder, "adapter_config.json"))
    copy(os.path.join(case, folder, "adapter_model.safetensors"))
for label in labels:
    copy(os.path.join(case, f"deltas_{label}.safetensors"))
for label in ["dare_linear", "dare_ties"]:
    copy(os.path.join(case, f"dare_masks_{label}.safetensors"))
copy(os.path.join("peft", "weighted", "io.safetensors"))
