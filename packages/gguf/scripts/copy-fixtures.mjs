#!/usr/bin/env node
/**
 * Copies the reference data the @peftjs/gguf tests use from the project's shared fixtures into test/fixtures/,
 * byte for byte (the Qwen3 tokenizer.json gzip-compressed); test/fixtures/README.md says what each file is. Usage: node scripts/copy-fixtures.mjs <shared-fixtures>
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const source = process.argv[2];
if (source === undefined) throw new Error("usage: node scripts/copy-fixtures.mjs <shared fixtures folder>");
const target = join(dirname(fileURLToPath(import.meta.url)), "..", "test", "fixtures");

const files = [
  ...[
    "config.json",
    "model.safetensors",
    "tok512.bin",
    "LICENSE",
    "reference_logits.safetensors",
    "reference.json",
  ].map((file) => `stories260k/${file}`),
  ...[
    "lora_default",
    "lora_gaussian_rslora",
    "pissa",
    "pissa_patterns",
    "pissa_niter_4",
    "olora",
    "weighted",
    "combine_more",
  ].map((name) => `peft/${name}/io.safetensors`),
  ...["lora_default", "lora_gaussian_rslora", "dora", "lora_embedding", "trainable_tokens", "pissa"].map(
    (name) => `peft/${name}/adapter_trained`,
  ),
  ...["pissa", "pissa_patterns", "pissa_niter_4", "olora"].map((name) => `peft/${name}/adapter_converted`),
  "peft/pissa/adapter_init",
  ...["weighted", "combine_more"].flatMap((name) => [
    `peft/${name}/adapter_b_trained`,
    `peft/${name}/combined`,
  ]),
  ...["llama_rope3", "qwen2", "qwen3", "mistral", "gemma3"].flatMap((arch) =>
    [
      "config.json",
      "model.safetensors",
      "reference.safetensors",
      "reference.json",
      "peft_lora/adapter_trained",
      "peft_lora/logits.safetensors",
    ].map((file) => `hf/models/${arch}/${file}`),
  ),
  ...["adapter_converted", "adapter_trained", "logits.safetensors"].map(
    (file) => `hf/models/qwen3/peft_pissa/${file}`,
  ),
  "hf/models/qwen2/peft_lora_bias/adapter_trained",
  ...["tokenizer.json", "tokenizer_config.json", "cases.json"].map((file) => `hf/tokenizers/sp_bpe/${file}`),
  ...["tokenizer_config.json", "cases.json", "LICENSE"].map((file) => `hf/tokenizers/qwen3/${file}`),
];

for (const folder of ["stories260k", "peft", "hf"])
  rmSync(join(target, folder), { recursive: true, force: true });
for (const file of files) {
  mkdirSync(dirname(join(target, file)), { recursive: true });
  cpSync(join(source, file), join(target, file), { recursive: true });
}
writeFileSync(
  join(target, "hf/tokenizers/qwen3/tokenizer.json.gz"),
  gzipSync(readFileSync(join(source, "hf/tokenizers/qwen3/tokenizer.json")), { level: 9 }),
);
console.log(`copied ${files.length + 1} entries into ${target}`);
