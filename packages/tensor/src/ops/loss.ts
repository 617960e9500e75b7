import { makeTensor, runOperation, tidy } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";
import { ShapeError, TensorArgumentError } from "../errors.js";
import { exp, log, mul, sub } from "./arithmetic.js";
import { full } from "./creation.js";
import { gather, reshape } from "./layout.js";
import { max, sum } from "./reduction.js";
import { assertDtype, assertFloat, formatShape } from "./shape-utils.js";

/** The label that marks a row as not counted (PyTorch's `ignore_index` default). */
export const CROSS_ENTROPY_IGNORE_INDEX = -100;

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** Rows whose label equals this are not counted. Default {@link CROSS_ENTROPY_IGNORE_INDEX} (-100). */
  readonly ignoreIndex?: number;
}

/** The labels of a cross-entropy call, read back and checked: which rows count and how many. */
interface CheckedLabels {
  /** The labels, one per row. */
  readonly labels: Int32Array;
  /** Number of rows whose label is not the ignore index. */
  readonly counted: number;
}

/**
 * Reads `labels` back and checks every one is a class index in `[0, classes)` or `ignoreIndex`.
 *
 * @throws TensorArgumentError naming the first bad label and its row.
 */
function checkCrossEntropyLabels(labels: Tensor, classes: number, ignoreIndex: number): CheckedLabels {
  const values = labels.dataSync() as Int32Array;
  let counted = 0;
  for (let row = 0; row < values.length; row++) {
    const label = values[row]!;
    if (label === ignoreIndex) continue;
    if (label < 0 || label >= classes) {
      throw new TensorArgumentError(
        `crossEntropy: label ${label} of row ${row} is outside [0, ${classes}) and is not the ignore index ${ignoreIndex}`,
      );
    }
    counted++;
  }
  return { labels: values, counted };
}

/**
 * Mean cross-entropy of `logits` against class `labels`, as `torch.nn.functional.cross_entropy` with
 * `reduction="mean"`: `−(1/n) Σ_rows log_softmax(logits)[row, label]` over the `n` rows whose label is not
 * `ignoreIndex`. Computed stably in float32 via `log_softmax(x) = x − m − log Σ exp(x − m)` (`m` the row
 * maximum). The result is a scalar `[]`; it is NaN when every row is ignored (as torch).
 *
 * Its gradient (see `valueAndGradients`) is fused: `(softmax(logits) − onehot(labels)) / n` on counted rows,
 * zero on ignored rows.
 *
 * @param logits - float32 `[rows, classes]`.
 * @param labels - int32 `[rows]`: class indices, or `ignoreIndex`.
 * @throws ShapeError when the shapes do not fit; DTypeError for a wrong dtype; TensorArgumentError for a label
 *   outside `[0, classes)` that is not `ignoreIndex`.
 */
export function crossEntropy(logits: Tensor, labels: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = options.ignoreIndex ?? CROSS_ENTROPY_IGNORE_INDEX;
  assertFloat("crossEntropy", "logits", logits);
  assertDtype("crossEntropy", "labels", labels, "int32");
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new ShapeError(
      `crossEntropy: logits ${formatShape(logits.shape)} must be [rows, classes] and labels ${formatShape(labels.shape)} must be [rows]`,
    );
  }
  const [rows, classes] = logits.shape as [number, number];
  const { labels: values, counted } = checkCrossEntropyLabels(labels, classes, ignoreIndex);
  return runOperation("crossEntropy", [logits, labels], { ignoreIndex }, () =>
    tidy(() => {
      if (counted === 0) return full([], Number.NaN);
      // Flat index of each row's label in the [rows · classes] log-probabilities; ignored rows pick index
      // row · classes and get weight 0.
      const positions = new Int32Array(rows);
      const weights = new Float32Array(rows);
      for (let row = 0; row < rows; row++) {
        const label = values[row]!;
        const ignored = label === ignoreIndex;
        positions[row] = row * classes + (ignored ? 0 : label);
        weights[row] = ignored ? 0 : -1 / counted;
      }
      const centered = sub(logits, max(logits, 1, true));
      const logProbabilities = sub(centered, log(sum(exp(centered), 1, true)));
      const picked = gather(
        reshape(logProbabilities, [rows * classes, 1]),
        makeTensor(positions, [rows], "int32"),
      );
      return sum(mul(picked, makeTensor(weights, [rows, 1], "float32")));
    }),
  );
}
