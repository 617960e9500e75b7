import { writeSafetensorsFile } from "@peftjs/io/node";
import type { CausalLM } from "@peftjs/models";
import type { Tensor } from "@peftjs/tensor";

/** Tokens per forward pass: rows are run in chunks of about this many tokens (at least one row). */
export const LOGITS_CHUNK_TOKENS = 512;

/** How many rows of `sequenceLength` tokens go through the model at once. */
export function rowsPerChunk(sequenceLength: number): number {
  return Math.max(1, Math.floor(LOGITS_CHUNK_TOKENS / sequenceLength));
}

/**
 * Writes `logits` float32 [batch, seq, vocab] for `inputIds` to a safetensors file (metadata format "pt"),
 * computing them a few rows at a time while the file is written: memory holds one chunk of activations and
 * logits, whatever the batch size (a [32, 512] batch on a 32 k vocabulary is 2 GB of logits).
 * `forward(rows, start)` runs one chunk (rows `start…` of the batch); default `model.forward(rows)`.
 * @returns the shape written
 */
export async function writeLogitsFile(
  path: string,
  model: CausalLM,
  inputIds: readonly (readonly number[])[],
  forward: (rows: readonly (readonly number[])[], start: number) => Tensor = (rows) => model.forward(rows),
): Promise<number[]> {
  const rows = inputIds.length;
  const sequenceLength = inputIds[0]?.length ?? 0;
  const vocabulary = model.config.vocabSize;
  const shape = [rows, sequenceLength, vocabulary];
  const chunkRows = rowsPerChunk(sequenceLength);
  await writeSafetensorsFile(
    path,
    {
      logits: {
        dtype: "F32",
        shape,
        data: async function* () {
          for (let start = 0; start < rows; start += chunkRows) {
            const logits = forward(inputIds.slice(start, start + chunkRows), start);
            try {
              const values = logits.toFloat32Array();
              yield new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
            } finally {
              logits.dispose();
            }
          }
        },
      },
    },
    { format: "pt" },
  );
  return shape;
}
