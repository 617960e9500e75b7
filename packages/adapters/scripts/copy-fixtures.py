"""Copies the PEFT reference fixtures the adapters tests read from ../shared/fixtures into test/fixtures.

Run from packages/adapters: python3 scripts/copy-fixtures.py /path/to/shared/fixtures
Adapter folders, deltas, case.json and (for lora_default, pissa, olora, pissa_niter_4) io.safetensors are copied byte for byte. merged/ and residual/ hold
whole models; only the tensors of the adapter's target modules are kept (values and dtypes unchanged), written
in the safetensors format with the original metadata.
"""
import json
import os
import shutil
import struct
import sys

source = sys.argv[1]
target = os.path.join("test", "fixtures")


def read_safetensors(path):
    data = open(path, "rb").read()
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + length])
    return header, data[8 + length :]


def write_subset(source_path, target_path, keep):
    header, body = read_safetensors(source_path)
    metadata = header.pop("__metadata__", None)
    names = sorted(name for name in header if keep(name))
    new_header, chunks, offset = {}, [], 0
    if metadata is not None:
        new_header["__metadata__"] = metadata
    for name in names:
        start, end = header[name]["data_offsets"]
        chunks.append(body[start:end])
        new_header[name] = {"dtype": header[name]["dtype"], "shape": header[name]["shape"], "data_offsets": [offset, offset + end - start]}
        offset += end - start
    encoded = json.dumps(new_header, separators=(",", ":")).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    os.makedirs(os.path.dirname(target_path), exist_ok=True)
    with open(target_path, "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


def copy(relative):
    os.makedirs(os.path.dirname(os.path.join(target, relative)), exist_ok=True)
    shutil.copyfile(os.path.join(source, relative), os.path.join(target, relative))


for name in ["config.json", "model.safetensors", "LICENSE"]:
    copy(os.path.join("stories260k", name))

cases = ["lora_default", "lora_gaussian_rslora", "pissa", "pissa_patterns", "pissa_niter_4", "pissa_bf16", "olora"]
for case in cases:
    base = os.path.join("peft", case)
    copy(os.path.join(base, "case.json"))
    copy(os.path.join(base, "deltas.safetensors"))
    copy(os.path.join(base, "grads_step0.safetensors"))
    for folder in ["adapter_init", "adapter_trained", "adapter_converted"]:
        if os.path.isdir(os.path.join(source, base, folder)):
            copy(os.path.join(base, folder, "adapter_config.json"))
            copy(os.path.join(base, folder, "adapter_model.safetensors"))
    if case in ["lora_default", "pissa", "olora", "pissa_niter_4"]:
        copy(os.path.join(base, "io.safetensors"))
    if os.path.exists(os.path.join(source, base, "deltas_init.safetensors")):
        copy(os.path.join(base, "deltas_init.safetensors"))
    config = json.load(open(os.path.join(source, base, "case.json")))
    targets = config["lora_config"]["target_modules"]
    keep = lambda key: any(key.endswith(f".{t}.weight") for t in targets)
    for folder in ["merged", "residual"]:
        path = os.path.join(source, base, folder, "model.safetensors")
        if os.path.exists(path):
            write_subset(path, os.path.join(target, base, folder, "targets.safetensors"), keep)

copy(os.path.join("peft", "mixing_hazard", "case.json"))
copy(os.path.join("peft", "mixing_hazard", "io.safetensors"))
weighted = os.path.join("peft", "weighted")
copy(os.path.join(weighted, "case.json"))
for folder in ["adapter_b_trained"] + [os.path.join("combined", f"combined_{kind}") for kind in ["cat", "linear", "svd", "cat_rslora_first"]]:
    copy(os.path.join(weighted, folder, "adapter_config.json"))
    copy(os.path.join(weighted, folder, "adapter_model.safetensors"))
for kind in ["cat", "linear", "svd", "exact_weighted_sum"]:
    copy(os.path.join(weighted, f"deltas_{kind}.safetensors"))
