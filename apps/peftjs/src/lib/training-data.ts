import { createReadStream } from "node:fs";
import { extname } from "node:path";
import type { RawTensor } from "@peftjs/io";
import { readSafetensorsFile } from "@peftjs/io/node";
import type { Tokenizer, TrainingBatch } from "@peftjs/models";
import { CliUsageError } from "../cli-error.js";
import { checkIdsFitModel } from "./model-tokenizer.js";

/**
 * The longest document (a `.txt` paragraph, a `.jsonl` "text") that is tokenized: documents are tokenized
 * one at a time as the file streams by, so this bounds what is held in memory at once.
 */
export const MAX_DOCUMENT_CHARACTERS = 1_000_000;
/**
 * The most training tokens held in memory (steps × batch × seq, 256 MB as int32). Every batch is read and
 * checked before training starts, so a bad line never ends a long run.
 */
export const MAX_TRAINING_TOKENS = 2 ** 26;

/** Reads `input_ids` (int64 or int32, [batch, seq]) from a safetensors file as rows of token ids. */
export async function readInputIds(path: string, flag: string): Promise<number[][]> {
  const { tensors } = await readSafetensorsFile(path);
  const raw = tensors.get("input_ids");
  if (raw === undefined) {
    throw new CliUsageError(
      `--${flag} ${path} has no "input_ids" tensor (it has ${JSON.stringify([...tensors.keys()].slice(0, 20))})`,
    );
  }
  return idRows(raw, path, flag);
}

function idRows(raw: RawTensor, path: string, flag: string): number[][] {
  if (raw.shape.length !== 2 || (raw.shape[0] as number) < 1 || (raw.shape[1] as number) < 1) {
    throw new CliUsageError(
      `--${flag} ${path}: input_ids has shape [${raw.shape.join(", ")}], expected [batch, seq]`,
    );
  }
  const [batch, length] = raw.shape as [number, number];
  const bytes = raw.data.slice();
  let values: number[];
  if (raw.dtype === "I64") values = Array.from(new BigInt64Array(bytes.buffer), Number);
  else if (raw.dtype === "I32") values = Array.from(new Int32Array(bytes.buffer));
  else throw new CliUsageError(`--${flag} ${path}: input_ids is ${raw.dtype}, expected I64 (or I32)`);
  return Array.from({ length: batch }, (_, row) => values.slice(row * length, (row + 1) * length));
}

/** The lines of a UTF-8 text file, read in chunks (split at `\n` only; no line longer than `maxCharacters`). */
async function* linesOf(path: string, maxCharacters: number): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8");
  let pending = "";
  let lineNumber = 1;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    pending += decoder.decode(chunk as Uint8Array, { stream: true });
    let start = 0;
    for (let newline = pending.indexOf("\n"); newline >= 0; newline = pending.indexOf("\n", start)) {
      yield pending.slice(start, newline);
      lineNumber++;
      start = newline + 1;
    }
    pending = pending.slice(start);
    if (pending.length > maxCharacters) {
      throw new CliUsageError(
        `--data ${path}: line ${lineNumber} is longer than ${maxCharacters.toLocaleString("en-US")} characters, the most peftjs reads as one document`,
      );
    }
  }
  pending += decoder.decode();
  if (pending !== "") yield pending;
}

/**
 * The documents of a `.txt` file (paragraphs separated by blank lines, trimmed) or a `.jsonl` file (the
 * "text" field of each non-empty line), streamed.
 */
async function* documentsOf(path: string): AsyncGenerator<string> {
  const tooLong = (what: string) =>
    new CliUsageError(
      `--data ${path}: ${what} is longer than ${MAX_DOCUMENT_CHARACTERS.toLocaleString("en-US")} characters, the most peftjs tokenizes as one document; split it${extname(path) === ".txt" ? " with blank lines" : ""}`,
    );
  if (extname(path) === ".jsonl") {
    let number = 0;
    for await (const raw of linesOf(path, 4 * MAX_DOCUMENT_CHARACTERS)) {
      number++;
      const line = raw.trim();
      if (line === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new CliUsageError(`--data ${path}: line ${number} is not JSON`);
      }
      const field = (value as { text?: unknown } | null)?.text;
      if (typeof field !== "string")
        throw new CliUsageError(`--data ${path}: line ${number} has no "text" string`);
      if (field.length > MAX_DOCUMENT_CHARACTERS) throw tooLong(`the "text" of line ${number}`);
      yield field;
    }
    return;
  }
  // Paragraphs end at whitespace-only lines (what splitting at /\n\s*\n/ gives).
  let paragraph: string[] = [];
  let length = 0;
  const flush = function* () {
    const text = paragraph.join("\n").trim();
    paragraph = [];
    length = 0;
    if (text !== "") yield text;
  };
  for await (const line of linesOf(path, MAX_DOCUMENT_CHARACTERS)) {
    if (line.trim() === "") {
      yield* flush();
      continue;
    }
    length += line.length + 1;
    if (length > MAX_DOCUMENT_CHARACTERS) throw tooLong("a paragraph");
    paragraph.push(line);
  }
  yield* flush();
}

/** How {@link readTrainingBatches} cuts text into batches. */
export interface TextBatching {
  /** Sequences per batch. */
  batchSize: number;
  /** Tokens per sequence. */
  sequenceLength: number;
  /** The number of training steps: at most this many distinct batches are read. */
  steps: number;
  /** The model's vocabulary size: every id must be below it (checked before training starts). */
  vocabSize: number;
}

/** The batches of a training run. */
export interface TrainingData {
  /** The batch of each step: the distinct batches in order, cycled when there are fewer than the steps. */
  batchAt(step: number): TrainingBatch;
  /** How many distinct batches were read. */
  readonly distinct: number;
  /** The shape of every batch, [batch, seq]. */
  readonly batchShape: [number, number];
}

/**
 * Training batches from `--data`: a `.safetensors` file's `input_ids` [batch, seq] is one batch, used as is;
 * text (`.txt`, `.jsonl`) is streamed, tokenized one document at a time with the model's tokenizer as
 * transformers' `tokenizer(text)` does (each document with the special tokens its post-processor adds: BOS for
 * Llama 2 / Mistral style tokenizers, nothing for Qwen's), packed into one stream and cut into sequences of
 * `sequenceLength` tokens, `batchSize` per batch (a last incomplete sequence or batch is dropped). Reading
 * stops once there are batches for every step, so a file of any size is read only as far as training needs.
 */
export async function readTrainingBatches(
  path: string,
  tokenizer: () => Promise<Tokenizer>,
  batching: TextBatching,
): Promise<TrainingData> {
  const extension = extname(path);
  if (extension === ".safetensors") {
    const rows = await readInputIds(path, "data");
    rows.forEach((row, index) => {
      checkIdsFitModel(row, batching.vocabSize, undefined, `--data ${path}: input_ids row ${index}`);
    });
    return {
      batchAt: () => ({ inputIds: rows }),
      distinct: 1,
      batchShape: [rows.length, rows[0]!.length],
    };
  }
  if (extension !== ".txt" && extension !== ".jsonl") {
    throw new CliUsageError(`--data ${path}: expected a .txt, .jsonl or .safetensors file`);
  }
  const { batchSize, sequenceLength, steps } = batching;
  const batchTokens = batchSize * sequenceLength;
  const needed = steps * batchTokens;
  if (needed > MAX_TRAINING_TOKENS) {
    throw new CliUsageError(
      `--steps ${steps} × --batch ${batchSize} × --seq ${sequenceLength} = ${needed.toLocaleString("en-US")} tokens, more than the ${MAX_TRAINING_TOKENS.toLocaleString("en-US")} peftjs holds in memory for one run; train in several runs (--adapter continues one)`,
    );
  }
  const encoder = await tokenizer();
  let tokens = new Int32Array(Math.min(needed, 1 << 16));
  let count = 0;
  let seen = 0;
  let documentNumber = 0;
  for await (const document of documentsOf(path)) {
    const ids = encoder.encode(document);
    checkIdsFitModel(ids, batching.vocabSize, encoder, `--data ${path}: document ${++documentNumber}`);
    seen += ids.length;
    const take = Math.min(ids.length, needed - count);
    if (count + take > tokens.length) {
      const grown = new Int32Array(Math.min(needed, Math.max(2 * tokens.length, count + take)));
      grown.set(tokens.subarray(0, count));
      tokens = grown;
    }
    tokens.set(ids.slice(0, take), count);
    count += take;
    if (count === needed) break;
  }
  const distinct = Math.floor(count / batchTokens);
  if (distinct === 0) {
    throw new CliUsageError(
      `--data ${path} gives ${seen} tokens, fewer than one batch of ${batchSize} × ${sequenceLength}; lower --batch or --seq`,
    );
  }
  return {
    batchAt: (step) => {
      const start = (step % distinct) * batchTokens;
      return {
        inputIds: Array.from({ length: batchSize }, (_, row) =>
          Array.from(tokens.subarray(start + row * sequenceLength, start + (row + 1) * sequenceLength)),
        ),
      };
    },
    distinct,
    batchShape: [batchSize, sequenceLength],
  };
}
