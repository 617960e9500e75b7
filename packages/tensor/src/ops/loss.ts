import { runKernel, runOperation, tidy } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";
import { ShapeError, TensorArgumentError } from "../errors.js";
import { clamp, div, mul, sub } from "./arithmetic.js";
import { cast, reshape } from "./layout.js";
import { sum } from "./reduction.js";
import { assertDtype, assertFloat, formatShape } from "./shape-utils.js";
import { withWidenedInputs } from "./widen.js";

/** The label that marks a row as not counted (PyTorch's `ignore_index` default). */
export const CROSS_ENTROPY_IGNORE_INDEX = -100;

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** Rows whose label equals this are not counted. Default {@link CROSS_ENTROPY_IGNORE_INDEX} (-100). */
  readonly ignoreIndex?: number;
}

/**
 * Reads `labels` back and checks every one is a class index in `[0, classes)` or `ignoreIndex`.
 *
 * @throws TensorArgumentError naming the first bad label and its row.
 */
function checkCrossEntropyLabels(labels: Tensor, classes: number, ignoreIndex: number): void {
  const values = labels.dataSync();
  for (let row = 0; row < values.length; row++) {
    const label = values[row]!;
    if (label !== ignoreIndex && (label < 0 || label >= classes)) {
      throw new TensorArgumentError(
        `crossEntropy: label ${label} of row ${row} is outside [0, ${classes}) and is not the ignore index ${ignoreIndex}`,
      );
    }
  }
}

/**
 * The number of rows whose label is not `ignoreIndex`, as a float32 scalar computed on the device (no read):
 * `Σ min((label − ignoreIndex)², 1)`, exact for int32 labels.
 */
function countedRows(labels: Tensor, ignoreIndex: number): Tensor {
  return tidy(() => {
    const difference = cast(sub(labels, ignoreIndex), "float32");
    return sum(clamp(mul(difference, difference), 0, 1));
  });
}

/**
 * Mean cross-entropy of `logits` against class `labels`, as `torch.nn.functional.cross_entropy` with
 * `reduction="mean"`: `−(1/n) Σ_rows log_softmax(logits)[row, label]` over the `n` rows whose label is not
 * `ignoreIndex`. Each row's term is computed stably in float32 as `log Σ exp(x − m) − (x_label − m)` (`m` the
 * row maximum) by one fused kernel, so no `[rows, classes]` intermediate (log-probabilities, exponentials) is
 * materialised. The result is a scalar `[]`; it is NaN when every row is ignored (as torch).
 *
 * Its gradient (see `valueAndGradients`) is fused too: `(softmax(logits) − onehot(labels)) / n` on counted
 * rows, zero on ignored rows, in one kernel on the device.
 *
 * Labels are checked on the host when their backend reads synchronously (a typed error names the first bad one);
 * on a backend that reads only asynchronously (`webgpu`) they cannot be, and an invalid label makes the loss NaN.
 *
 * @param logits - floating-point `[rows, classes]` (float16/bfloat16 are widened).
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
  const classes = logits.shape[1]!;
  if (labels.storage.backend.readsSynchronously !== false)
    checkCrossEntropyLabels(labels, classes, ignoreIndex);
  return runOperation("crossEntropy", [logits, labels], { ignoreIndex }, () =>
    tidy(() => {
      const losses = withWidenedInputs([logits], ([wide]) =>
        runKernel("crossEntropyRows", [wide!, labels], { ignoreIndex }),
      );
      // 0 / 0 = NaN when every row is ignored, as torch.
      return div(sum(losses), countedRows(labels, ignoreIndex));
    }),
  );
}

/**
 * The gradient of {@link crossEntropy} with respect to its logits for an upstream gradient `upstream` (a
 * scalar): `upstream · (softmax(logits) − onehot(labels)) / n` on counted rows, 0 on ignored rows, one fused
 * kernel on the active backend (no read-back).
 */
export function crossEntropyGradient(
  upstream: Tensor,
  logits: Tensor,
  labels: Tensor,
  ignoreIndex: number,
): Tensor {
  return tidy(() => {
    const scale = reshape(div(upstream, countedRows(labels, ignoreIndex)), []);
    return withWidenedInputs([logits], ([wide]) =>
      runKernel("crossEntropyGradient", [wide!, labels, scale], { ignoreIndex }),
    );
  });
}
