/**
 * Reverse-mode automatic differentiation over a tape of public ops.
 *
 * While `valueAndGradients(fn, parameters)` runs `fn`, an operation observer records every public op that has
 * at least one input depending on a parameter (the frozen rest of the computation is not recorded), keeping
 * alive only the values its gradient rule needs (views: no copies). Then the tape is walked backwards, each
 * rule turning the gradient of an op's output into gradients of its inputs, and every saved value is
 * released. Outside `valueAndGradients` no observer is registered, so inference pays nothing.
 */

import { isFloatDType } from "../dtype/dtypes.js";
import { addOperationObserver, keep, makeView, type OperationRecord, tidy } from "../engine/engine.js";
import { Tensor } from "../engine/tensor.js";
import { add } from "../ops/arithmetic.js";
import { ones, zeros } from "../ops/creation.js";
import { formatShape } from "../ops/shape-utils.js";
import { AutogradError } from "./errors.js";
import { type GradientRule, gradientRules, nonDifferentiableOps } from "./gradient-rules.js";

/**
 * The tensors to differentiate with respect to: an array, a `Map` (e.g. parameter name → tensor, as an
 * optimizer holds them) or a plain object of float32 tensors.
 */
export type ParameterSet =
  | readonly Tensor[]
  | ReadonlyMap<string, Tensor>
  | { readonly [name: string]: Tensor };

/** Gradients in the same container shape as the parameters: array → array, `Map` → `Map`, object → object. */
export type GradientsOf<P extends ParameterSet> = P extends readonly Tensor[]
  ? Tensor[]
  : P extends ReadonlyMap<infer K, Tensor>
    ? Map<K, Tensor>
    : { [K in keyof P]: Tensor };

/**
 * The result of {@link valueAndGradients} (a plain object: `dispose(result)` frees the value and, for array or
 * object parameter sets, the gradients).
 */
export type ValueAndGradients<P extends ParameterSet> = {
  /** What `fn` returned. */
  readonly value: Tensor;
  /** `∂ sum(value) / ∂ parameter` for each parameter, shaped like the parameter. */
  readonly gradients: GradientsOf<P>;
};

interface TapeEntry {
  readonly name: string;
  readonly rule: GradientRule;
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly needs: readonly boolean[];
  /** Original tensor → a kept view of it (same storage), alive until the entry is back-propagated. */
  readonly saved: Map<Tensor, Tensor>;
}

let recording = false;

function parameterList(parameters: ParameterSet): Tensor[] {
  if (Array.isArray(parameters)) return [...(parameters as readonly Tensor[])];
  if (parameters instanceof Map) return [...parameters.values()];
  return Object.values(parameters as Record<string, Tensor>);
}

function rebuild<P extends ParameterSet>(
  parameters: P,
  gradientOf: (parameter: Tensor) => Tensor,
): GradientsOf<P> {
  if (Array.isArray(parameters)) return (parameters as readonly Tensor[]).map(gradientOf) as GradientsOf<P>;
  if (parameters instanceof Map) {
    return new Map(
      [...(parameters as ReadonlyMap<string, Tensor>)].map(([name, parameter]) => [
        name,
        gradientOf(parameter),
      ]),
    ) as GradientsOf<P>;
  }
  return Object.fromEntries(
    Object.entries(parameters as Record<string, Tensor>).map(([name, parameter]) => [
      name,
      gradientOf(parameter),
    ]),
  ) as GradientsOf<P>;
}

function checkParameters(parameters: readonly Tensor[]): void {
  parameters.forEach((parameter, index) => {
    if (!(parameter instanceof Tensor)) {
      throw new AutogradError(`valueAndGradients: parameter #${index} is not a Tensor`);
    }
    parameter.assertLive("valueAndGradients");
    if (parameter.dtype !== "float32") {
      throw new AutogradError(
        `valueAndGradients: parameter #${index} of shape ${formatShape(parameter.shape)} is ${parameter.dtype}; only float32 tensors have gradients`,
      );
    }
  });
}

/** A view of `tensor` owned by the tape: outside every `tidy` scope, disposed by the tape. */
function retain(tensor: Tensor): Tensor {
  return keep(makeView(tensor, tensor.shape));
}

function recorder(tape: TapeEntry[], differentiable: Set<Tensor>): (record: OperationRecord) => void {
  return (record) => {
    const needs = record.inputs.map((input) => differentiable.has(input));
    // Floating-point outputs only: a cast to float16/bfloat16 passes gradients through (as torch), an int32 result does not.
    if (!needs.some(Boolean) || nonDifferentiableOps.has(record.name) || !isFloatDType(record.output.dtype)) {
      return;
    }
    const rule = gradientRules[record.name];
    if (rule === undefined) {
      const index = needs.indexOf(true);
      throw new AutogradError(
        `valueAndGradients: "${record.name}" has no gradient rule, but its input #${index} (${formatShape(record.inputs[index]!.shape)}) depends on a parameter; wrap that input in stopGradient() if no gradient should flow through it`,
      );
    }
    const saved = new Map<Tensor, Tensor>();
    for (const tensor of rule.save(record.inputs, record.output, needs, record.attributes)) {
      if (!saved.has(tensor)) saved.set(tensor, retain(tensor));
    }
    tape.push({ ...record, rule, needs, saved });
    differentiable.add(record.output);
  };
}

function releaseSaved(entry: TapeEntry): void {
  for (const view of entry.saved.values()) view.dispose();
  entry.saved.clear();
}

/** Adds `gradient` to the gradient accumulated for `tensor` (disposing the partial sums it replaces). */
function accumulate(gradients: Map<Tensor, Tensor>, tensor: Tensor, gradient: Tensor): void {
  const previous = gradients.get(tensor);
  if (previous === undefined) {
    gradients.set(tensor, gradient);
    return;
  }
  gradients.set(tensor, add(previous, gradient));
  previous.dispose();
  gradient.dispose();
}

function backPropagate(entry: TapeEntry, upstream: Tensor, gradients: Map<Tensor, Tensor>): void {
  const results = tidy(
    () =>
      entry.rule.backward(upstream, {
        inputs: entry.inputs,
        output: entry.output,
        attributes: entry.attributes,
        needs: entry.needs,
        saved(original) {
          const view = entry.saved.get(original);
          if (view === undefined)
            throw new AutogradError(
              `autograd (internal): the "${entry.name}" rule read a value it did not save`,
            );
          return view;
        },
      }) as (Tensor | undefined)[],
  );
  const seen = new Set<Tensor>();
  results.forEach((result, index) => {
    if (result === undefined || !entry.needs[index]) return;
    const input = entry.inputs[index]!;
    if (result.rank !== input.rank || result.shape.some((extent, axis) => extent !== input.shape[axis])) {
      throw new Error(
        `autograd: the "${entry.name}" rule gave a ${formatShape(result.shape)} gradient for its ${formatShape(input.shape)} input #${index}`,
      );
    }
    // A rule may pass the upstream gradient (or one tensor for two inputs) through: each input gets its own.
    const owned = result === upstream || seen.has(result) ? makeView(result, result.shape) : result;
    seen.add(result);
    accumulate(gradients, input, owned);
  });
}

/**
 * Runs `fn` and returns its value together with the gradient of the sum of its elements (usually a scalar
 * loss) with respect to each of `parameters`, by reverse-mode differentiation.
 *
 * Only ops reached by a parameter are recorded, so frozen tensors (base weights) never get gradients and cost
 * only their forward pass. Parameters are ordinary immutable tensors: a training step calls this with the
 * current parameters, then builds the next ones (e.g. `sub(parameter, scale(gradient, learningRate))`).
 * Every tensor `fn` creates is disposed, except the returned value; the values kept for the backward pass are
 * released before this returns. A parameter the value does not depend on gets a zero gradient.
 *
 * @param fn - synchronous; builds the value from public ops on the parameters.
 * @param parameters - an array, `Map` or plain object of float32 tensors.
 * @returns the value (the caller disposes it) and the gradients in the container shape of `parameters`.
 * @throws AutogradError when a parameter is not a live float32 tensor, when a parameter reaches an op with
 *   no gradient rule, or when called inside another `valueAndGradients`.
 * @example
 * ```ts
 * const { value: loss, gradients } = valueAndGradients(
 *   () => crossEntropy(matmul(x, matmul(loraB, loraA), { transposeB: true }), labels),
 *   new Map([["lora_A", loraA], ["lora_B", loraB]]),
 * );
 * ```
 */
export function valueAndGradients<P extends ParameterSet>(
  fn: () => Tensor,
  parameters: P,
): ValueAndGradients<P> {
  if (recording) {
    throw new AutogradError("valueAndGradients: cannot be nested inside another valueAndGradients call");
  }
  const list = parameterList(parameters);
  checkParameters(list);
  const tape: TapeEntry[] = [];
  const differentiable = new Set<Tensor>(list);
  const gradients = new Map<Tensor, Tensor>();
  recording = true;
  const removeObserver = addOperationObserver(recorder(tape, differentiable));
  let value: Tensor;
  try {
    try {
      value = tidy(fn);
    } finally {
      removeObserver();
      recording = false;
    }
    if (!(value instanceof Tensor)) throw new AutogradError("valueAndGradients: fn must return a Tensor");
    if (differentiable.has(value)) gradients.set(value, ones(value.shape));
    for (let index = tape.length - 1; index >= 0; index--) {
      const entry = tape[index]!;
      const upstream = gradients.get(entry.output);
      if (upstream !== undefined) {
        gradients.delete(entry.output);
        backPropagate(entry, upstream, gradients);
        upstream.dispose();
      }
      releaseSaved(entry);
    }
  } catch (error) {
    for (const entry of tape) releaseSaved(entry);
    for (const gradient of gradients.values()) gradient.dispose();
    throw error;
  }
  const parameterSet = new Set(list);
  for (const [tensor, gradient] of gradients) if (!parameterSet.has(tensor)) gradient.dispose();
  const handedOut = new Set<Tensor>();
  const result = rebuild(parameters, (parameter) => {
    const gradient = gradients.get(parameter);
    if (gradient === undefined) return zeros(parameter.shape);
    if (!handedOut.has(gradient)) {
      handedOut.add(gradient);
      return gradient;
    }
    return makeView(gradient, gradient.shape);
  });
  return { value, gradients: result };
}
