import { PeftjsError } from "@peftjs/io";
import { concat, gather, reshape, type Tensor, tensor } from "@peftjs/tensor";

/** The name in a mixed batch's `adapterNames` for a row that runs on the base model alone (PEFT's). */
export const BASE_ADAPTER_NAME = "__base__";

/** Why a mixed batch was refused. */
export type MixedBatchProblem = "empty" | "length" | "unknown" | "training" | "merged" | "variant" | "layer";

/**
 * A mixed batch (`adapterNames`, PEFT's `adapter_names`) cannot run as asked; `problem` says why and the
 * message names the offending value.
 */
export class MixedBatchError extends PeftjsError {
  /** What is wrong. */
  readonly problem: MixedBatchProblem;
  constructor(problem: MixedBatchProblem, message: string) {
    super("adapter_mixed_batch", message);
    this.problem = problem;
  }
}

/** The batch rows of one adapter: batch indices in ascending order. */
export interface RowGroup {
  /** The adapter name. */
  readonly adapter: string;
  /** The batch rows that use it. */
  readonly rows: readonly number[];
}

/**
 * The rows of each adapter in `names`, in order of first appearance, leaving out `"__base__"` and the
 * adapters `carries` says this layer does not have (those rows get nothing from this layer, as in PEFT).
 */
export function rowGroups(names: readonly string[], carries: (name: string) => boolean): RowGroup[] {
  const groups = new Map<string, number[]>();
  for (const [row, name] of names.entries()) {
    if (name === BASE_ADAPTER_NAME || !carries(name)) continue;
    let rows = groups.get(name);
    if (rows === undefined) {
      rows = [];
      groups.set(name, rows);
    }
    rows.push(row);
  }
  return [...groups].map(([adapter, rows]) => ({ adapter, rows }));
}

/**
 * One layer's output for a mixed batch, PEFT's `_mixed_batch_forward`: the base output `result` (computed
 * over the whole batch) keeps its rows for `"__base__"`; each adapter's rows are gathered into a sub-batch on
 * the device, `apply(adapter, input rows, result rows)` adds that adapter alone, and one more gather puts
 * every row back in place. Rows of adapters that `carries` denies keep the base output. Indices come from `names` (host data), so nothing is read back from the device.
 *
 * `input` is row-major with batch rows outermost (`[B·T, in]` or `[B, T, in]`); `result` likewise with `out`
 * columns. Each batch row is the `size / B` contiguous values of its sequence.
 *
 * @throws MixedBatchError when the input's rows do not split into `names.length` batch rows.
 */
export function mixedBatchForward(
  input: Tensor,
  result: Tensor,
  names: readonly string[],
  carries: (adapter: string) => boolean,
  apply: (adapter: string, input: Tensor, result: Tensor) => Tensor,
): Tensor {
  const batch = names.length;
  const inFeatures = input.shape.at(-1)!;
  const outFeatures = result.shape.at(-1)!;
  const rows = input.size / inFeatures;
  if (batch === 0 || rows % batch !== 0) {
    throw new MixedBatchError(
      "length",
      `adapterNames has ${batch} names, but the layer input has ${rows} rows, which do not split into ${batch} sequences`,
    );
  }
  const groups = rowGroups(names, carries);
  const positions = rows / batch;
  const applyRows = (adapter: string, inputRows: Tensor, resultRows: Tensor, count: number) =>
    apply(
      adapter,
      reshape(inputRows, [count * positions, inFeatures]),
      reshape(resultRows, [count * positions, outFeatures]),
    );
  if (groups.length === 0) return result;
  if (groups.length === 1 && groups[0]!.rows.length === batch) {
    return reshape(applyRows(groups[0]!.adapter, input, result, batch), result.shape);
  }
  const inputByRow = reshape(input, [batch, positions * inFeatures]);
  const resultByRow = reshape(result, [batch, positions * outFeatures]);
  // pieces: the unchanged base rows first, then each adapter's sub-batch; `order[i]` is where row i ends up
  const pieces: Tensor[] = [resultByRow];
  const order = Int32Array.from({ length: batch }, (_, row) => row);
  let offset = batch;
  for (const group of groups) {
    const indices = tensor(Int32Array.from(group.rows), [group.rows.length], "int32");
    const output = applyRows(
      group.adapter,
      gather(inputByRow, indices),
      gather(resultByRow, indices),
      group.rows.length,
    );
    pieces.push(reshape(output, [group.rows.length, positions * outFeatures]));
    for (const [index, row] of group.rows.entries()) order[row] = offset + index;
    offset += group.rows.length;
  }
  return reshape(gather(concat(pieces, 0), tensor(order, [batch], "int32")), result.shape);
}
