import { crossEntropy, reshape, slice, type Tensor, tensor, tidy } from "@peftjs/tensor";
import type { TokenBatch } from "../causal-lm.js";
import { ModelInputError } from "../errors.js";

/** The label that marks a position as not counted in the loss (PyTorch's and transformers' default). */
export const IGNORE_INDEX = -100;

/** Options of {@link causalLanguageModelLoss}. */
export interface CausalLanguageModelLossOptions {
  /** Labels equal to this are not counted. Default {@link IGNORE_INDEX} (-100). */
  ignoreIndex?: number;
}

function labelRows(labels: TokenBatch): number[][] {
  if (Array.isArray(labels)) return (labels as readonly (readonly number[])[]).map((row) => [...row]);
  const batch = labels as Tensor;
  if (batch.rank !== 2) throw new ModelInputError(`labels must be [B, T], got [${batch.shape.join(", ")}]`);
  const [rows, columns] = batch.shape as [number, number];
  const values = batch.dataSync();
  return Array.from({ length: rows }, (_, row) =>
    Array.from(values.subarray(row * columns, (row + 1) * columns)),
  );
}

/**
 * The causal language-modelling loss of Hugging Face transformers (`ForCausalLMLoss`): position `t`'s logits
 * predict label `t + 1` (the labels are shifted inside, so pass `labels = input_ids`), and the loss is the
 * mean token cross-entropy `−log softmax(logits)[label]` over all counted positions, in float32, through
 * `@peftjs/tensor`'s `crossEntropy` (differentiable: use it inside `valueAndGradients`).
 *
 * @param logits `[B, T, V]`, e.g. `model.forward(inputIds)`.
 * @param labels `[B, T]` token ids (or {@link IGNORE_INDEX} to skip a position).
 * @returns a scalar tensor `[]`.
 * @throws ModelInputError when shapes differ, a label is outside the vocabulary, or no position is counted.
 */
export function causalLanguageModelLoss(
  logits: Tensor,
  labels: TokenBatch,
  options: CausalLanguageModelLossOptions = {},
): Tensor {
  const ignoreIndex = options.ignoreIndex ?? IGNORE_INDEX;
  if (logits.rank !== 3)
    throw new ModelInputError(`logits must be [B, T, V], got [${logits.shape.join(", ")}]`);
  const [batchSize, length, vocabSize] = logits.shape as [number, number, number];
  const rows = labelRows(labels);
  if (rows.length !== batchSize || rows.some((row) => row.length !== length)) {
    throw new ModelInputError(
      `labels [${rows.length}, ${rows[0]?.length ?? 0}] do not match logits [${logits.shape.join(", ")}]`,
    );
  }
  const predicted = batchSize * (length - 1);
  // Shifted labels: row (b, t) of the flattened logits predicts label[b][t + 1].
  const shiftedLabels = new Int32Array(predicted);
  let counted = 0;
  rows.forEach((row, batch) => {
    for (let position = 0; position + 1 < length; position++) {
      const label = row[position + 1]!;
      if (label !== ignoreIndex && !(Number.isInteger(label) && label >= 0 && label < vocabSize)) {
        throw new ModelInputError(
          `label ${label} at [${batch}, ${position + 1}] is outside [0, ${vocabSize})`,
        );
      }
      if (label !== ignoreIndex) counted++;
      shiftedLabels[batch * (length - 1) + position] = label;
    }
  });
  if (counted === 0) throw new ModelInputError("no label is counted (all ignored, or sequences of length 1)");
  return tidy(() => {
    const shifted = reshape(slice(logits, [0, 0, 0], [batchSize, length - 1, vocabSize]), [
      predicted,
      vocabSize,
    ]);
    // mean over counted rows of −log_softmax(logits)[label] (torch.nn.functional.cross_entropy).
    return crossEntropy(shifted, tensor(shiftedLabels, [predicted], "int32"), { ignoreIndex });
  });
}
