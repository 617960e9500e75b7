import {
  dispose,
  getBackend,
  keep,
  memory,
  mul,
  setBackend,
  sum,
  type Tensor,
  tensor,
  valueAndGradients,
} from "../index.js";
import type { Array64 } from "./float64-reference.js";
import { sizeOf } from "./float64-reference.js";
import {
  type GradientCase,
  type GradientInput,
  type GradientTolerance,
  gradientCheckCases,
  gradientToleranceFor,
} from "./gradient-check-cases.js";

/** The outcome of one gradient check on one backend. */
export interface GradientCheckResult {
  /** The case's name. */
  readonly name: string;
  /** The backend it ran on. */
  readonly backend: string;
  /** True when the forward pass and every gradient were within tolerance and no tensor leaked. */
  readonly passed: boolean;
  /** The first thing that went wrong, when it did not pass. */
  readonly failure?: string;
  /** Largest `|forward − reference| / max(1, max |reference|)`; NaN when the case threw first. */
  readonly forwardError: number;
  /** Largest `|analytic − numeric| / max(1, max |numeric|)` over every gradient; NaN when the case threw first. */
  readonly gradientError: number;
  /** The tolerance it was checked at. */
  readonly tolerance: GradientTolerance;
  /** Live tensors after the check minus before (must be 0: the tape and the check release everything). */
  readonly leakedTensors: number;
}

/** Central-difference step, in float64 (see the error analysis in gradient-check-cases.ts). */
const finiteDifferenceStep = 1e-6;

/** mulberry32: a tiny seeded generator for test inputs (independent of the library's Philox). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Float32-representable values for one float input: Box–Muller normals, uniforms in [0.5, 2], or fixed. */
function fillValues(spec: GradientInput, random: () => number): Float64Array {
  const fill = spec.fill ?? "normal";
  if (typeof fill !== "string") return Float64Array.from(fill, Math.fround);
  return Float64Array.from({ length: sizeOf(spec.shape) }, () => {
    if (fill === "positive") return Math.fround(0.5 + 1.5 * random());
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    return Math.fround(radius * Math.cos(2 * Math.PI * random()));
  });
}

/** Σ output ⊙ weights in float64. */
const objective = (output: Array64, weights: Float64Array) =>
  output.values.reduce((total, value, index) => total + value * weights[index]!, 0);

const errorMessage = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/** The float64 side of a check: inputs, reference output, objective weights. */
interface PreparedCase {
  readonly values: Float64Array[];
  readonly referenceInputs: () => Array64[];
  readonly expectedOutput: Array64;
  readonly weights: Float64Array;
}

function prepare(testCase: GradientCase, seed: number): PreparedCase {
  const random = seededRandom(seed);
  const floatSpecs = testCase.inputs.filter((spec) => spec.int32 === undefined);
  const values = floatSpecs.map((spec) => fillValues(spec, random));
  const referenceInputs = () =>
    floatSpecs.map((spec, index): Array64 => ({ values: values[index]!, shape: spec.shape }));
  const expectedOutput = testCase.reference(referenceInputs());
  const weights = Float64Array.from({ length: expectedOutput.values.length }, () =>
    Math.fround(random() * 2 - 1),
  );
  return { values, referenceInputs, expectedOutput, weights };
}

/** The tape's side: the forward output (kept past the step) and the gradients, every tensor in `owned`. */
function differentiate(
  testCase: GradientCase,
  prepared: PreparedCase,
  owned: Tensor[],
): { output: Tensor; gradients: Tensor[] } {
  let floatIndex = 0;
  const tensors = testCase.inputs.map((spec) =>
    spec.int32 !== undefined
      ? tensor(Int32Array.from(spec.int32), spec.shape)
      : tensor(prepared.values[floatIndex++]!, spec.shape),
  );
  owned.push(...tensors);
  const parameters = tensors.filter((_, index) => testCase.inputs[index]!.int32 === undefined);
  const weightTensor = tensor(prepared.weights, prepared.expectedOutput.shape);
  owned.push(weightTensor);
  let output: Tensor | undefined;
  const { value, gradients } = valueAndGradients(() => {
    // keep(): the forward output outlives fn's scope, to be read after the step (synchronously or not).
    output = keep(testCase.forward(tensors));
    return sum(mul(output, weightTensor));
  }, parameters);
  owned.push(value, ...gradients);
  if (output !== undefined) owned.push(output);
  return { output: output!, gradients };
}

/** Compares what the backend computed with the float64 reference and finite differences. */
function evaluate(
  testCase: GradientCase,
  prepared: PreparedCase,
  output: readonly number[],
  analyticGradients: readonly (readonly number[])[],
  tolerance: GradientTolerance,
): { forwardError: number; gradientError: number; failure: string | undefined } {
  const { values, referenceInputs, expectedOutput, weights } = prepared;
  let failure: string | undefined;
  if (output.length !== expectedOutput.values.length) {
    throw new Error(`forward gave ${output.length} values, the reference ${expectedOutput.values.length}`);
  }
  const outputScale = Math.max(1, ...expectedOutput.values.map(Math.abs));
  let forwardError = 0;
  output.forEach((actual, index) => {
    const error = Math.abs(actual - expectedOutput.values[index]!) / outputScale;
    // NaN compares false everywhere: count it as an infinite error.
    forwardError = Number.isNaN(error) ? Number.POSITIVE_INFINITY : Math.max(forwardError, error);
    if (!(error <= tolerance.forward) && failure === undefined) {
      failure = `forward element ${index}: ${actual} vs reference ${expectedOutput.values[index]} (relative error ${error} > ${tolerance.forward})`;
    }
  });

  let gradientError = 0;
  analyticGradients.forEach((analytic, parameterIndex) => {
    const input = values[parameterIndex]!;
    // Central differences of the float64 objective: (L(x + h) − L(x − h)) / 2h per element.
    const numeric = Array.from(input, (original, index) => {
      input[index] = original + finiteDifferenceStep;
      const above = objective(testCase.reference(referenceInputs()), weights);
      input[index] = original - finiteDifferenceStep;
      const below = objective(testCase.reference(referenceInputs()), weights);
      input[index] = original;
      return (above - below) / (2 * finiteDifferenceStep);
    });
    const gradientScale = Math.max(1, ...numeric.map(Math.abs));
    numeric.forEach((expected, index) => {
      const error = Math.abs(analytic[index]! - expected) / gradientScale;
      gradientError = Number.isNaN(error) ? Number.POSITIVE_INFINITY : Math.max(gradientError, error);
      if (!(error <= tolerance.gradient) && failure === undefined) {
        failure = `input #${parameterIndex} element ${index}: analytic ${analytic[index]} vs numeric ${expected} (relative error ${error} > ${tolerance.gradient})`;
      }
    });
  });
  return { forwardError, gradientError, failure };
}

function result(
  testCase: GradientCase,
  backend: string,
  tolerance: GradientTolerance,
  tensorsBefore: number,
  checked: { forwardError: number; gradientError: number; failure: string | undefined },
): GradientCheckResult {
  let failure = checked.failure;
  const leakedTensors = memory().tensors - tensorsBefore;
  if (leakedTensors !== 0 && failure === undefined) failure = `${leakedTensors} tensors leaked`;
  return {
    name: testCase.name,
    backend,
    passed: failure === undefined,
    ...(failure === undefined ? {} : { failure }),
    forwardError: checked.forwardError,
    gradientError: checked.gradientError,
    tolerance,
    leakedTensors,
  };
}

const threw = (error: unknown) => ({
  forwardError: Number.NaN,
  gradientError: Number.NaN,
  failure: `threw ${errorMessage(error)}`,
});

/**
 * Runs one gradient check on the active backend, reading back synchronously (the backend must read
 * synchronously, as `js`, `wasm` and the gpu backend's GL modes do; {@link runGradientCheckAsync} works
 * everywhere). Inputs come from a mulberry32 stream seeded with `seed`, so every backend sees the same numbers.
 * Never throws for a failing case: the result says what failed.
 */
export function runGradientCheck(testCase: GradientCase, seed: number): GradientCheckResult {
  const backend = getBackend();
  const tolerance = gradientToleranceFor(testCase, backend);
  const tensorsBefore = memory().tensors;
  const owned: Tensor[] = [];
  let checked: ReturnType<typeof evaluate>;
  try {
    const prepared = prepare(testCase, seed);
    const { output, gradients } = differentiate(testCase, prepared, owned);
    checked = evaluate(
      testCase,
      prepared,
      output.toArray(),
      gradients.map((gradient) => gradient.toArray()),
      tolerance,
    );
  } catch (error) {
    checked = threw(error);
  } finally {
    dispose(owned);
  }
  return result(testCase, backend, tolerance, tensorsBefore, checked);
}

/**
 * {@link runGradientCheck} reading back asynchronously (`await tensor.data()`), so that it also runs on a
 * backend that reads only asynchronously (`webgpu`).
 */
export async function runGradientCheckAsync(
  testCase: GradientCase,
  seed: number,
): Promise<GradientCheckResult> {
  const backend = getBackend();
  const tolerance = gradientToleranceFor(testCase, backend);
  const tensorsBefore = memory().tensors;
  const owned: Tensor[] = [];
  let checked: ReturnType<typeof evaluate>;
  try {
    const prepared = prepare(testCase, seed);
    const { output, gradients } = differentiate(testCase, prepared, owned);
    const analytic = await Promise.all(gradients.map((gradient) => gradient.toArrayAsync()));
    checked = evaluate(testCase, prepared, await output.toArrayAsync(), analytic, tolerance);
  } catch (error) {
    checked = threw(error);
  } finally {
    dispose(owned);
  }
  return result(testCase, backend, tolerance, tensorsBefore, checked);
}

/** The input seed of the case at `index` of {@link gradientCheckCases}: the same on every backend. */
export const gradientCheckSeed = (index: number): number => 1000 + index;

/**
 * Runs the whole table (or the cases `filter` keeps) on `backend` through {@link runGradientCheckAsync} (any
 * backend), each case with {@link gradientCheckSeed} of its table position; the previously active backend is
 * restored afterwards.
 *
 * @returns one result per selected case, in table order.
 */
export async function runGradientCheckSuite(
  backend: string,
  filter: (testCase: GradientCase) => boolean = () => true,
): Promise<GradientCheckResult[]> {
  const previous = getBackend();
  await setBackend(backend);
  try {
    const results: GradientCheckResult[] = [];
    for (const [index, testCase] of gradientCheckCases.entries()) {
      if (filter(testCase)) results.push(await runGradientCheckAsync(testCase, gradientCheckSeed(index)));
    }
    return results;
  } finally {
    await setBackend(previous);
  }
}
