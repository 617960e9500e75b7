"""Copies the DoRA fixtures that test/dora.test.ts reads (peft/dora, peft/dora_all_rslora) from the shared
fixtures into test/fixtures: adapter folders, case.json, dora.safetensors, grads_step0, io.safetensors and (dora
only) deltas.safetensors byte for byte; of merged/model.safetensors only the target modules' weights (values
and dtypes unchanged, as scripts/copy-fixtures.py does for the other cases).

Run from packages/adapters: python3 scripts/copy-dora-fixtures.py /path/to/shared/fixtures
"""
import json
import os
import shutil
import struct
import sys

source = sys.argv[1]
target = os.path.join("test", "fixtures")


def copy(relative):
    os.makedirs(os.path.dirname(os.path.join(target, relative)), exist_ok=True)
    shutil.copyfile(os.path.join(source, relative), os.path.join(target, relative))


def write_subset(relative_source, relative_target, keep):
    data = open(os.path.join(source, relative_source), "rb").read()
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + length])
    body = data[8 + length :]
    metadata = header.pop("__metadata__", None)
    new_header, chunks, offset = ({"__metadata__": metadata} if metadata is not None else {}), [], 0
    for name in sorted(name for name in header if keep(name)):
        start, end = header[name]["data_offsets"]
        chunks.append(body[start:end])
        new_header[name] = {"dtype": header[name]["dtype"], "shape": header[name]["shape"], "data_offsets": [offset, offset + end - start]}
        offset += end - start
    encoded = json.dumps(new_header, separators=(",", ":")).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    path = os.path.join(target, relative_target)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


for case in ["dora", "dora_all_rslora"]:
    base = os.path.join("peft", case)
    for name in ["case.json", "dora.safetensors", "grads_step0.safetensors", "io.safetensors"]:
        copy(os.path.join(base, name))
    for folder in ["adapter_init", "adapter_trained"]:
        copy(os.path.join(base, folder, "adapter_config.json"))
        copy(os.path.join(base, folder, "adapter_model.safetensors"))
    targets = json.load(open(os.path.join(source, base, "case.json")))["scalings"].keys()
    write_subset(
        os.path.join(base, "merged", "model.safetensors"),
        os.path.join(base, "merged", "targets.safetensors"),
        lambda name: name.endswith(".weight") and name[: -len(".weight")] in targets,
    )
copy(os.path.join("peft", "dora", "deltas.safetensors"))
