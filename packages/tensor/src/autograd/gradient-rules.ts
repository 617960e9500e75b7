/**
 * The gradient rule of every differentiable public op, keyed by the name its `runOperation` reports.
 *
 * A rule says which of the op's tensors the backward pass needs (so the tape keeps only those alive, and only
 * for the inputs that need a gradient) and computes the gradient of each input that needs one from the
 * upstream gradient (the gradient of the op's output). Rules use public ops; the tape runs them with recording
 * off, inside a `tidy`.
 */
import type { Tensor } from "../engine/tensor.js";
import { add, div, mul, neg, scale, sigmoid, sub } from "../ops/arithmetic.js";
import { ones, zeros } from "../ops/creation.js";
import { concat, reshape, slice, transpose } from "../ops/layout.js";
import { crossEntropyGradient } from "../ops/loss.js";
import { matmul } from "../ops/matmul.js";
import { scaleColumns, scaleRows } from "../ops/matrix.js";
import {
  applyRotaryEmbedding,
  rmsNorm,
  rmsNormBackward,
  softmaxBackward,
  swiGluBackward,
} from "../ops/neural.js";
import { sum } from "../ops/reduction.js";
import { clampGradient, maxGradient, scatterAddRows } from "./cpu-gradients.js";
import { broadcastReduced, sumLeadingAxes, sumToShape } from "./shape-gradients.js";

/** What a rule sees of one recorded op during the backward pass. */
export interface GradientContext {
  /** The op's tensor inputs as recorded (use their `shape`; their values only through {@link saved}). */
  readonly inputs: readonly Tensor[];
  /** The op's output as recorded (use its `shape`; its value only through {@link saved}). */
  readonly output: Tensor;
  /** The op's attributes. */
  readonly attributes: Readonly<Record<string, unknown>>;
  /** For each input, whether a gradient is wanted. */
  readonly needs: readonly boolean[];
  /** The live values of an input or the output that the rule's `save` listed. */
  saved(original: Tensor): Tensor;
}

/** How one op back-propagates. */
export interface GradientRule {
  /** The inputs and/or output whose values `backward` reads, given which inputs need a gradient. */
  save(
    inputs: readonly Tensor[],
    output: Tensor,
    needs: readonly boolean[],
    attributes: Readonly<Record<string, unknown>>,
  ): readonly Tensor[];
  /** The gradient of each input (same shape as the input), or undefined where `needs` is false. */
  backward(upstream: Tensor, context: GradientContext): readonly (Tensor | undefined)[];
}

const nothing = (): readonly Tensor[] => [];

/** A rule for a one-input op whose gradient is `upstream · f'(...)` computed from the input or the output. */
function unaryRule(
  uses: "input" | "output",
  backward: (upstream: Tensor, value: Tensor, attributes: Readonly<Record<string, unknown>>) => Tensor,
): GradientRule {
  return {
    save: (inputs, output) => [uses === "input" ? inputs[0]! : output],
    backward: (upstream, context) => [
      backward(
        upstream,
        context.saved(uses === "input" ? context.inputs[0]! : context.output),
        context.attributes,
      ),
    ],
  };
}

type Side = "left" | "right";

/** One operand of a binary op: a recorded tensor input (with its index) or a number attribute. */
interface Operand {
  readonly tensor?: Tensor;
  readonly number?: number;
  readonly index: number;
}

/** The operands of `add`/`sub`/`mul`/`div`: a number operand is in `attributes.left`/`attributes.right`. */
function binaryOperands(
  inputs: readonly Tensor[],
  attributes: Readonly<Record<string, unknown>>,
): Record<Side, Operand> {
  if (typeof attributes.left === "number") {
    return { left: { number: attributes.left, index: -1 }, right: { tensor: inputs[0]!, index: 0 } };
  }
  if (typeof attributes.right === "number") {
    return { left: { tensor: inputs[0]!, index: 0 }, right: { number: attributes.right, index: -1 } };
  }
  return { left: { tensor: inputs[0]!, index: 0 }, right: { tensor: inputs[1]!, index: 1 } };
}

/** The gradient of one operand of a binary op, before broadcasting is undone. */
interface BinarySideGradient {
  /** The operands whose values it reads. */
  readonly reads: readonly Side[];
  /** Computes it; `operand(side)` is a number operand or a saved tensor's value. */
  readonly gradient: (upstream: Tensor, operand: (side: Side) => Tensor | number) => Tensor;
}

/** A rule for `add`/`sub`/`mul`/`div`; each operand's gradient is summed back to its own shape. */
function binaryRule(left: BinarySideGradient, right: BinarySideGradient): GradientRule {
  const sides: Record<Side, BinarySideGradient> = { left, right };
  return {
    save(inputs, _output, needs, attributes) {
      const operands = binaryOperands(inputs, attributes);
      const kept: Tensor[] = [];
      for (const side of ["left", "right"] as const) {
        if (operands[side].tensor === undefined || !needs[operands[side].index]) continue;
        for (const read of sides[side].reads) {
          const tensor = operands[read].tensor;
          if (tensor !== undefined) kept.push(tensor);
        }
      }
      return kept;
    },
    backward(upstream, context) {
      const operands = binaryOperands(context.inputs, context.attributes);
      const operand = (side: Side): Tensor | number => {
        const { tensor, number } = operands[side];
        return tensor === undefined ? number! : context.saved(tensor);
      };
      const gradients: (Tensor | undefined)[] = context.inputs.map(() => undefined);
      for (const side of ["left", "right"] as const) {
        const { tensor, index } = operands[side];
        if (tensor === undefined || !context.needs[index]) continue;
        gradients[index] = sumToShape(sides[side].gradient(upstream, operand), tensor.shape);
      }
      return gradients;
    },
  };
}

/** `upstream · factor` for a number factor, `upstream ⊙ factor` for a tensor. */
function times(upstream: Tensor, factor: Tensor | number): Tensor {
  return typeof factor === "number" ? scale(upstream, factor) : mul(upstream, factor);
}

function axisOf(attributes: Readonly<Record<string, unknown>>): number | undefined {
  return attributes.axis as number | undefined;
}

const matmulRule: GradientRule = {
  save: (inputs, _output, needs) => [...(needs[0] ? [inputs[1]!] : []), ...(needs[1] ? [inputs[0]!] : [])],
  backward(upstream, context) {
    const [aInput, bInput] = context.inputs as [Tensor, Tensor];
    const transposeA = context.attributes.transposeA as boolean;
    const transposeB = context.attributes.transposeB as boolean;
    const gradients: (Tensor | undefined)[] = [undefined, undefined];
    if (context.needs[0]) {
      const b = context.saved(bInput);
      // C = op(A)·op(B): dop(A) = dC·op(B)ᵀ; stored transposed when transposeA.
      const gradient = transposeA
        ? matmul(b, upstream, { transposeA: transposeB, transposeB: true })
        : matmul(upstream, b, { transposeB: !transposeB });
      gradients[0] = sumLeadingAxes(gradient, aInput.rank);
    }
    if (context.needs[1]) {
      const a = context.saved(aInput);
      if (bInput.rank === 2 && aInput.rank > 2 && !transposeA) {
        // A shared 2-D B under a batched A: fold the batch into the rows, one product instead of a sum.
        const rows = reshape(a, [-1, a.shape[a.rank - 1]!]);
        const upstreamRows = reshape(upstream, [-1, upstream.shape[upstream.rank - 1]!]);
        gradients[1] = transposeB
          ? matmul(upstreamRows, rows, { transposeA: true })
          : matmul(rows, upstreamRows, { transposeA: true });
      } else {
        // dop(B) = op(A)ᵀ·dC; stored transposed when transposeB.
        const gradient = transposeB
          ? matmul(upstream, a, { transposeA: true, transposeB: transposeA })
          : matmul(a, upstream, { transposeA: !transposeA });
        gradients[1] = sumLeadingAxes(gradient, bInput.rank);
      }
    }
    return gradients;
  },
};

/** Swaps the two halves of the last axis of a `[sequence, headDim]` table. */
function swapHalves(table: Tensor): Tensor {
  const half = table.shape[1]! / 2;
  return concat([slice(table, [0, half], [-1, half]), slice(table, [0, 0], [-1, half])], 1);
}

const rotaryRule: GradientRule = {
  save: (inputs, _output, needs) => [
    ...(needs[0] ? [inputs[1]!, inputs[2]!] : []),
    ...(needs[1] || needs[2] ? [inputs[0]!] : []),
  ],
  backward(upstream, context) {
    const [xInput, cosInput, sinInput] = context.inputs as [Tensor, Tensor, Tensor];
    const gradients: (Tensor | undefined)[] = [undefined, undefined, undefined];
    if (context.needs[0]) {
      // y = x·cos + R(x)·sin with R(x) = [−x₂, x₁]; Rᵀ = −R, so dx = dy·cos − R(dy·sin)
      // and R(dy·sin) = R(dy)·swap(sin) (swap exchanges the halves): dx = rope(dy, cos, −swap(sin)).
      const cos = context.saved(cosInput);
      const sin = context.saved(sinInput);
      gradients[0] = applyRotaryEmbedding(upstream, cos, neg(swapHalves(sin)));
    }
    if (context.needs[1] || context.needs[2]) {
      const x = context.saved(xInput);
      if (context.needs[1]) gradients[1] = sumLeadingAxes(mul(upstream, x), 2);
      if (context.needs[2]) {
        // R(x) = rope(x, cos = 0, sin = 1).
        const rotated = applyRotaryEmbedding(x, zeros(cosInput.shape), ones(sinInput.shape));
        gradients[2] = sumLeadingAxes(mul(upstream, rotated), 2);
      }
    }
    return gradients;
  },
};

const rmsNormRule: GradientRule = {
  save: (inputs, _output, needs) => [inputs[0]!, ...(needs[0] ? [inputs[1]!] : [])],
  backward(upstream, context) {
    const [xInput, weightInput] = context.inputs as [Tensor, Tensor];
    const epsilon = context.attributes.epsilon as number;
    const x = context.saved(xInput);
    // y = w ⊙ x · r with r = (mean(x²) + ε)^(−1/2) per row.
    const gradients: (Tensor | undefined)[] = [undefined, undefined];
    if (context.needs[0]) {
      // g = dy ⊙ w; dx = r·(g − x·r²·mean(g ⊙ x)), one fused kernel.
      gradients[0] = rmsNormBackward(x, context.saved(weightInput), upstream, epsilon);
    }
    if (context.needs[1]) {
      // dw = Σ_rows dy ⊙ x·r (x·r is rmsNorm with a unit weight).
      const hidden = weightInput.shape[0]!;
      const normalized = rmsNorm(x, ones([hidden]), epsilon);
      gradients[1] = sum(reshape(mul(upstream, normalized), [-1, hidden]), 0);
    }
    return gradients;
  },
};

/** Pads `gradient` with zeros to `shape`, placing it at `begin` (the adjoint of `slice`). */
function padInto(gradient: Tensor, shape: readonly number[], begin: readonly number[]): Tensor {
  let result = gradient;
  for (let axis = 0; axis < shape.length; axis++) {
    const before = begin[axis]!;
    const after = shape[axis]! - before - result.shape[axis]!;
    if (before === 0 && after === 0) continue;
    const pieces: Tensor[] = [];
    const padShape = (extent: number) =>
      result.shape.map((value, index) => (index === axis ? extent : value));
    if (before > 0) pieces.push(zeros(padShape(before)));
    pieces.push(result);
    if (after > 0) pieces.push(zeros(padShape(after)));
    result = concat(pieces, axis);
  }
  return result;
}

const identityRule: GradientRule = { save: nothing, backward: (upstream) => [upstream] };

/** Gradient rules by op name. Ops absent here and not in {@link nonDifferentiableOps} cannot be differentiated. */
export const gradientRules: Readonly<Record<string, GradientRule>> = {
  add: binaryRule(
    { reads: [], gradient: (upstream) => upstream },
    { reads: [], gradient: (upstream) => upstream },
  ),
  sub: binaryRule(
    { reads: [], gradient: (upstream) => upstream },
    { reads: [], gradient: (upstream) => neg(upstream) },
  ),
  mul: binaryRule(
    { reads: ["right"], gradient: (upstream, operand) => times(upstream, operand("right")) },
    { reads: ["left"], gradient: (upstream, operand) => times(upstream, operand("left")) },
  ),
  // d(a/b)/da = 1/b; d(a/b)/db = −a/b².
  div: binaryRule(
    {
      reads: ["right"],
      gradient(upstream, operand) {
        const right = operand("right");
        return typeof right === "number" ? scale(upstream, 1 / right) : div(upstream, right);
      },
    },
    {
      reads: ["left", "right"],
      gradient(upstream, operand) {
        const right = operand("right") as Tensor;
        return neg(div(times(upstream, operand("left")), mul(right, right)));
      },
    },
  ),
  scale: {
    save: nothing,
    backward: (upstream, context) => [scale(upstream, context.attributes.factor as number)],
  },
  axpy: {
    save: nothing,
    backward: (upstream, context) => [scale(upstream, context.attributes.alpha as number), upstream],
  },
  neg: { save: nothing, backward: (upstream) => [neg(upstream)] },
  // d√a = 1/(2√a).
  sqrt: unaryRule("output", (upstream, output) => div(upstream, scale(output, 2))),
  exp: unaryRule("output", (upstream, output) => mul(upstream, output)),
  log: unaryRule("input", (upstream, input) => div(upstream, input)),
  // σ' = σ(1 − σ).
  sigmoid: unaryRule("output", (upstream, output) => mul(upstream, mul(output, sub(1, output)))),
  // silu(a) = a·σ(a); silu' = σ(a)·(1 + a·(1 − σ(a))).
  silu: unaryRule("input", (upstream, input) => {
    const s = sigmoid(input);
    return mul(upstream, mul(s, add(1, mul(input, sub(1, s)))));
  }),
  clamp: unaryRule("input", (upstream, input, attributes) =>
    clampGradient(upstream, input, attributes.min as number, attributes.max as number),
  ),
  sum: {
    save: nothing,
    backward: (upstream, context) => [
      broadcastReduced(upstream, context.inputs[0]!.shape, axisOf(context.attributes)),
    ],
  },
  mean: {
    save: nothing,
    backward(upstream, context) {
      const shape = context.inputs[0]!.shape;
      const axis = axisOf(context.attributes);
      const count = axis === undefined ? context.inputs[0]!.size : shape[axis]!;
      return [scale(broadcastReduced(upstream, shape, axis), 1 / count)];
    },
  },
  max: unaryRule("input", (upstream, input, attributes) => maxGradient(upstream, input, axisOf(attributes))),
  // dz = y ⊙ (dy − Σ dy ⊙ y) over the last axis (one fused kernel); dx = scale · dz; d mask = dz summed back
  // to the mask's shape. The causal mask is a constant.
  softmax: {
    save: (_inputs, output) => [output],
    backward(upstream, context) {
      const y = context.saved(context.output);
      const scale = (context.attributes.scale as number | undefined) ?? 1;
      const gradients: (Tensor | undefined)[] = [undefined, undefined];
      if (context.needs[0]) gradients[0] = softmaxBackward(y, upstream, scale);
      if (context.needs[1])
        gradients[1] = sumToShape(softmaxBackward(y, upstream, 1), context.inputs[1]!.shape);
      return gradients;
    },
  },
  swiGlu: {
    save: (inputs) => inputs,
    backward(upstream, context) {
      const gate = context.saved(context.inputs[0]!);
      const up = context.saved(context.inputs[1]!);
      return [0, 1].map((input) =>
        context.needs[input] ? swiGluBackward(gate, up, upstream, input as 0 | 1) : undefined,
      );
    },
  },
  rmsNorm: rmsNormRule,
  applyRotaryEmbedding: rotaryRule,
  matmul: matmulRule,
  reshape: { save: nothing, backward: (upstream, context) => [reshape(upstream, context.inputs[0]!.shape)] },
  transpose: {
    save: nothing,
    backward(upstream, context) {
      const permutation = context.attributes.permutation as readonly number[];
      const inverse = new Array<number>(permutation.length);
      permutation.forEach((axis, index) => {
        inverse[axis] = index;
      });
      return [transpose(upstream, inverse)];
    },
  },
  slice: {
    save: nothing,
    backward: (upstream, context) => [
      padInto(upstream, context.inputs[0]!.shape, context.attributes.begin as readonly number[]),
    ],
  },
  concat: {
    save: nothing,
    backward(upstream, context) {
      const axis = context.attributes.axis as number;
      let offset = 0;
      return context.inputs.map((input, index) => {
        const begin = input.shape.map((_, dimension) => (dimension === axis ? offset : 0));
        offset += input.shape[axis]!;
        return context.needs[index] ? slice(upstream, begin, input.shape) : undefined;
      });
    },
  },
  gather: {
    save: (inputs) => [inputs[1]!],
    backward: (upstream, context) => [
      scatterAddRows(upstream, context.saved(context.inputs[1]!), context.inputs[0]!.shape),
      undefined,
    ],
  },
  cast: identityRule,
  scaleRows: {
    save: (inputs, _output, needs) => [...(needs[0] ? [inputs[1]!] : []), ...(needs[1] ? [inputs[0]!] : [])],
    backward: (upstream, context) => [
      context.needs[0] ? scaleRows(upstream, context.saved(context.inputs[1]!)) : undefined,
      context.needs[1] ? sum(mul(upstream, context.saved(context.inputs[0]!)), 1) : undefined,
    ],
  },
  scaleColumns: {
    save: (inputs, _output, needs) => [...(needs[0] ? [inputs[1]!] : []), ...(needs[1] ? [inputs[0]!] : [])],
    backward: (upstream, context) => [
      context.needs[0] ? scaleColumns(upstream, context.saved(context.inputs[1]!)) : undefined,
      context.needs[1] ? sum(mul(upstream, context.saved(context.inputs[0]!)), 0) : undefined,
    ],
  },
  crossEntropy: {
    save: (inputs) => inputs,
    backward: (upstream, context) => [
      crossEntropyGradient(
        upstream,
        context.saved(context.inputs[0]!),
        context.saved(context.inputs[1]!),
        context.attributes.ignoreIndex as number,
      ),
      undefined,
    ],
  },
};

/** Ops whose output never carries a gradient (integer results, or an explicit stop). */
export const nonDifferentiableOps: ReadonlySet<string> = new Set(["argmax", "isFinite", "stopGradient"]);
