import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import type { LoraAdapter } from "@peftjs/adapters";
import { loadPeftAdapter } from "@peftjs/adapters/node";
import { type CheckpointReader, type RawTensor, toFloat32 } from "@peftjs/io";
import { openCheckpoint, readJsonFile, readSafetensorsFile } from "@peftjs/io/node";
import {
  GgufTokenType,
  type GgufVocabulary,
  huggingFaceVocabulary,
  llama2cVocabulary,
} from "../../src/index.js";

/** The package's copied reference data (see test/fixtures/README.md). */
export const fixtures = fileURLToPath(new URL("../fixtures/", import.meta.url));

/** The five Hugging Face architectures of `hf/models/`, by fixture folder and model_type. */
export const hfModels = ["llama_rope3", "qwen2", "qwen3", "mistral", "gemma3"] as const;
/** One of {@link hfModels}. */
export type HfModel = (typeof hfModels)[number];

/** A model folder read for export: its config, an open checkpoint and the folder. */
export interface ModelFolder {
  readonly folder: string;
  readonly config: Record<string, unknown>;
  readonly checkpoint: CheckpointReader;
}

/** Opens a model folder (close `checkpoint` when done). */
export async function openModelFolder(relative: string): Promise<ModelFolder> {
  const folder = `${fixtures}${relative}`;
  return {
    folder,
    config: await readJsonFile<Record<string, unknown>>(`${folder}/config.json`),
    checkpoint: await openCheckpoint(folder),
  };
}

/** stories260K's llama2.c vocabulary. */
export function storiesVocabulary(): GgufVocabulary {
  return llama2cVocabulary(readFileSync(`${fixtures}stories260k/tok512.bin`), 512);
}

/**
 * A vocabulary of the model's size for the `hf/models` fixtures, which are random-weight models without
 * tokenizer files: the config's BOS/EOS/padding ids as control tokens, 256 byte tokens, then `▁w<id>` pieces.
 * The logit comparisons feed token ids directly, so only its size and special ids matter.
 */
export function syntheticVocabulary(config: Record<string, unknown>): GgufVocabulary {
  const size = config.vocab_size as number;
  const special = new Map<number, string>();
  special.set(config.bos_token_id as number, "<bos>");
  special.set(config.eos_token_id as number, "<eos>");
  if (typeof config.pad_token_id === "number") special.set(config.pad_token_id, "<pad>");
  const tokens: string[] = [];
  const tokenTypes: number[] = [];
  let byte = 0;
  for (let id = 0; id < size; id++) {
    const name = special.get(id);
    if (name !== undefined) {
      tokens.push(name);
      tokenTypes.push(GgufTokenType.CONTROL);
    } else if (byte < 256) {
      tokens.push(`<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`);
      tokenTypes.push(GgufTokenType.BYTE);
      byte++;
    } else {
      tokens.push(`▁w${id}`);
      tokenTypes.push(GgufTokenType.NORMAL);
    }
  }
  return {
    model: "llama",
    tokens,
    tokenTypes,
    scores: tokens.map(() => 0),
    specialTokens: { bos: config.bos_token_id as number, eos: config.eos_token_id as number },
    addBos: true,
    addEos: false,
    warnings: [],
  };
}

/** The vocabulary of a tokenizer fixture (`hf/tokenizers/<name>`; Qwen3's tokenizer.json is stored gzipped). */
export function tokenizerFixtureVocabulary(name: "qwen3" | "sp_bpe"): GgufVocabulary {
  const folder = `${fixtures}hf/tokenizers/${name}`;
  const tokenizer =
    name === "qwen3"
      ? JSON.parse(gunzipSync(readFileSync(`${folder}/tokenizer.json.gz`)).toString("utf8"))
      : JSON.parse(readFileSync(`${folder}/tokenizer.json`, "utf8"));
  const tokenizerConfig = JSON.parse(readFileSync(`${folder}/tokenizer_config.json`, "utf8"));
  return huggingFaceVocabulary(tokenizer, tokenizerConfig, {});
}

/** One tokenization case of `hf/tokenizers/<name>/cases.json`. */
export interface TokenizerCase {
  readonly name: string;
  readonly text: string;
  readonly ids: number[];
  readonly ids_special: number[];
}

/** The cases of a tokenizer fixture. */
export function tokenizerCases(name: "qwen3" | "sp_bpe"): TokenizerCase[] {
  return JSON.parse(readFileSync(`${fixtures}hf/tokenizers/${name}/cases.json`, "utf8")).cases;
}

/** A PEFT adapter folder of the fixtures. */
export function loadAdapter(relative: string): Promise<LoraAdapter> {
  return loadPeftAdapter(`${fixtures}${relative}`);
}

/** Reference logits: the token ids (one row per sequence) and the logits [sequences, positions, vocab]. */
export interface ReferenceLogits {
  readonly sequences: number[][];
  readonly logits: Float32Array;
  readonly vocabSize: number;
}

function int64Rows(tensor: RawTensor): number[][] {
  const values = Array.from(new BigInt64Array(tensor.data.slice().buffer), Number);
  const [rows, columns] = tensor.shape as [number, number];
  return Array.from({ length: rows }, (_, row) => values.slice(row * columns, (row + 1) * columns));
}

/** Reads `input_ids` (or `idsKey`) and the logits under `key` of a reference safetensors file. */
export async function readReference(
  relative: string,
  key: string,
  idsKey = "input_ids",
): Promise<ReferenceLogits> {
  const { tensors } = await readSafetensorsFile(`${fixtures}${relative}`);
  const logits = tensors.get(key);
  const ids = tensors.get(idsKey);
  if (logits === undefined || ids === undefined) throw new Error(`${relative} has no ${key} / ${idsKey}`);
  return { sequences: int64Rows(ids), logits: toFloat32(logits), vocabSize: logits.shape.at(-1) as number };
}
