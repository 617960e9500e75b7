import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Llama2cTokenizer, TrainingBatch } from "@peftjs/models";

/**
 * The demo's fine-tuning corpus: short stories about Pip the robot, written for peftjs (MIT, like the rest of
 * the project) in the simple vocabulary stories260K was trained on, so a few dozen steps visibly teach it.
 */
export const corpusPath = fileURLToPath(new URL("../assets/corpus/pip-the-robot.txt", import.meta.url));

/** Token ids of every non-empty line, each line one story starting with BOS, concatenated. */
export async function corpusTokens(tokenizer: Llama2cTokenizer): Promise<number[]> {
  const text = await readFile(corpusPath, "utf8");
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .flatMap((line) => tokenizer.encode(line));
}

/**
 * A deterministic batch sequence over a token stream: batch `step` holds `batchSize` windows of
 * `sequenceLength` tokens whose starts walk the stream with a stride coprime to its length, so every window
 * is visited before any repeats and two runs (LoRA, PiSSA) see exactly the same data.
 */
export function windowBatches(
  tokens: readonly number[],
  batchSize: number,
  sequenceLength: number,
): (step: number) => TrainingBatch {
  const starts = tokens.length - sequenceLength;
  if (starts <= 0)
    throw new RangeError(`the corpus has ${tokens.length} tokens, fewer than a window of ${sequenceLength}`);
  let stride = 61;
  while (gcd(stride, starts) !== 1) stride++;
  return (step) => ({
    inputIds: Array.from({ length: batchSize }, (_, row) => {
      const start = ((step * batchSize + row) * stride) % starts;
      return tokens.slice(start, start + sequenceLength);
    }),
  });
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
