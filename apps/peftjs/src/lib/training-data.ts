import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import type { RawTensor } from "@peftjs/io";
import { readSafetensorsFile } from "@peftjs/io/node";
import type { TrainingBatch } from "@peftjs/models";
import { loadLlama2cTokenizer } from "@peftjs/models/node";
import { CliUsageError } from "../cli-error.js";

/** The llama2.c tokenizer file a model folder may carry (the embedded stories260K has one). */
export const TOKENIZER_FILE = "tok512.bin";

/** Reads `input_ids` (int64 or int32, [batch, seq]) from a safetensors file as rows of token ids. */
export async function readInputIds(path: string, flag: string): Promise<number[][]> {
  if (!existsSync(path)) throw new CliUsageError(`--${flag} ${path} does not exist`);
  const { tensors } = await readSafetensorsFile(path);
  const raw = tensors.get("input_ids");
  if (raw === undefined) {
    throw new CliUsageError(
      `--${flag} ${path} has no "input_ids" tensor (it has ${JSON.stringify([...tensors.keys()])})`,
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

/** The documents of a `.txt` (paragraphs separated by blank lines) or `.jsonl` (a "text" field per line) file. */
async function readDocuments(path: string): Promise<string[]> {
  const text = await readFile(path, "utf8");
  if (extname(path) === ".jsonl") {
    return text
      .split("\n")
      .map((line, index) => ({ line: line.trim(), number: index + 1 }))
      .filter(({ line }) => line !== "")
      .map(({ line, number }) => {
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          throw new CliUsageError(`--data ${path}: line ${number} is not JSON`);
        }
        const field = (value as { text?: unknown } | null)?.text;
        if (typeof field !== "string")
          throw new CliUsageError(`--data ${path}: line ${number} has no "text" string`);
        return field;
      });
  }
  return text
    .split(/\n\s*\n/)
    .map((paragraph) => paragraph.trim())
    .filter((paragraph) => paragraph !== "");
}

/** How {@link readTrainingBatches} cuts text into batches. */
export interface TextBatching {
  /** Sequences per batch. */
  batchSize: number;
  /** Tokens per sequence. */
  sequenceLength: number;
}

/**
 * Training batches from `--data`: a `.safetensors` file's `input_ids` [batch, seq] is one batch, used as is;
 * text (`.txt`, `.jsonl`) is tokenized with the model folder's `tok512.bin`, each document with a leading BOS,
 * packed into one stream and cut into sequences of `sequenceLength` tokens, `batchSize` per batch (a last
 * incomplete sequence or batch is dropped).
 */
export async function readTrainingBatches(
  path: string,
  modelDir: string,
  batching: TextBatching,
  vocabSize: number,
): Promise<TrainingBatch[]> {
  if (!existsSync(path)) throw new CliUsageError(`--data ${path} does not exist`);
  const extension = extname(path);
  if (extension === ".safetensors") return [{ inputIds: await readInputIds(path, "data") }];
  if (extension !== ".txt" && extension !== ".jsonl") {
    throw new CliUsageError(`--data ${path}: expected a .txt, .jsonl or .safetensors file`);
  }
  const tokenizerPath = join(modelDir, TOKENIZER_FILE);
  if (!existsSync(tokenizerPath)) {
    throw new CliUsageError(
      `--data ${path} is text, but the model folder has no ${TOKENIZER_FILE} to tokenize it; pass a .safetensors file with input_ids`,
    );
  }
  const tokenizer = await loadLlama2cTokenizer(tokenizerPath, vocabSize);
  const stream = (await readDocuments(path)).flatMap((document) => tokenizer.encode(document));
  const { batchSize, sequenceLength } = batching;
  const sequences: number[][] = [];
  for (let start = 0; start + sequenceLength <= stream.length; start += sequenceLength) {
    sequences.push(stream.slice(start, start + sequenceLength));
  }
  const batches: TrainingBatch[] = [];
  for (let start = 0; start + batchSize <= sequences.length; start += batchSize) {
    batches.push({ inputIds: sequences.slice(start, start + batchSize) });
  }
  if (batches.length === 0) {
    throw new CliUsageError(
      `--data ${path} gives ${stream.length} tokens, fewer than one batch of ${batchSize} × ${sequenceLength}; lower --batch or --seq`,
    );
  }
  return batches;
}
