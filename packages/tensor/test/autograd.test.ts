import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AutogradError,
  add,
  CROSS_ENTROPY_IGNORE_INDEX,
  createGenerator,
  crossEntropy,
  DTypeError,
  dispose,
  exp,
  log,
  matmul,
  max,
  memory,
  mul,
  probeBackends,
  ShapeError,
  scale,
  setBackend,
  silu,
  stopGradient,
  sub,
  sum,
  type Tensor,
  TensorArgumentError,
  tensor,
  tidy,
  valueAndGradients,
  zeros,
} from "../src/index.js";

// Gradients here are compared with hand-derived float64 values; float32 products of a few O(1) terms are
// exact to ~1e-7 relative, so 1e-5 absolute is a comfortable bound that still catches any wrong rule.
const tolerance = 1e-5;

function expectClose(actual: Tensor, expected: readonly number[], bound = tolerance): void {
  const values = actual.toArray();
  expect(values.length).toBe(expected.length);
  values.forEach((value, index) => {
    expect(Math.abs(value - expected[index]!)).toBeLessThanOrEqual(bound);
  });
}

describe("valueAndGradients", () => {
  it("returns the value and gradients in the container shape of the parameters", () => {
    const a = tensor([1, 2, 3], [3]);
    const b = tensor([4, 5, 6], [3]);
    const unused = tensor([7, 8], [2]);
    const fn = () => sum(mul(a, b));
    const fromArray = valueAndGradients(fn, [a, b]);
    expect(fromArray.value.item()).toBe(32);
    expectClose(fromArray.gradients[0]!, [4, 5, 6]);
    expectClose(fromArray.gradients[1]!, [1, 2, 3]);
    const fromMap = valueAndGradients(
      fn,
      new Map([
        ["a", a],
        ["unused", unused],
      ]),
    );
    expect([...fromMap.gradients.keys()]).toEqual(["a", "unused"]);
    expectClose(fromMap.gradients.get("a")!, [4, 5, 6]);
    // A parameter the value does not depend on gets zeros.
    expectClose(fromMap.gradients.get("unused")!, [0, 0]);
    const fromObject = valueAndGradients(fn, { b });
    expectClose(fromObject.gradients.b, [1, 2, 3]);
    dispose([a, b, unused, fromArray, fromMap.value, [...fromMap.gradients.values()], fromObject]);
  });

  it("differentiates the sum of a non-scalar value, and a value that is a parameter", () => {
    const x = tensor([1, -2], [2]);
    const squared = valueAndGradients(() => mul(x, x), [x]);
    expectClose(squared.gradients[0]!, [2, -4]);
    const identity = valueAndGradients(() => x, [x]);
    expect(identity.value).toBe(x);
    expectClose(identity.gradients[0]!, [1, 1]);
    dispose([squared, identity.gradients, x]);
  });

  it("back-propagates through intermediates that an inner tidy already disposed", () => {
    const x = tensor([0.5, 1, 2], [3]);
    const { value, gradients } = valueAndGradients(
      () => tidy(() => sum(log(exp(mul(x, x))))), // = Σ x², every intermediate disposed by the inner tidy
      [x],
    );
    expect(value.item()).toBeCloseTo(5.25, 5);
    expectClose(gradients[0]!, [1, 2, 4]);
    dispose([value, gradients, x]);
  });

  it("stops gradients at stopGradient and never records ops on frozen tensors only", () => {
    const x = tensor([1, 2], [2]);
    const frozen = tensor([3, 4], [2]);
    const { value, gradients } = valueAndGradients(
      () => add(sum(mul(stopGradient(x), x)), sum(mul(frozen, frozen))),
      [x],
    );
    // d/dx Σ c·x with c = x held constant is c, not 2x.
    expectClose(gradients[0]!, [1, 2]);
    expect(value.item()).toBe(30);
    dispose([value, gradients, x, frozen]);
  });

  it("keeps no values for ops on frozen tensors, and only what each gradient needs otherwise", () => {
    const parameter = tensor([1, 2, 3, 4], [2, 2]);
    const frozen = tensor([5, 6, 7, 8], [2, 2]);
    const growth: number[] = [];
    const measure = (op: () => unknown) => {
      const before = memory().tensors;
      op();
      growth.push(memory().tensors - before);
    };
    const { value, gradients } = valueAndGradients(() => {
      let activation = parameter;
      measure(() => matmul(frozen, frozen)); // frozen only: just the output, nothing recorded
      measure(() => {
        activation = matmul(activation, frozen); // needs only the frozen side: output + a view of frozen
      });
      measure(() => {
        activation = add(activation, frozen); // add's gradient reads no values: output only
      });
      measure(() => {
        activation = exp(activation); // exp's gradient reads its output: output + a view of it
      });
      return sum(activation);
    }, [parameter]);
    expect(growth).toEqual([1, 2, 1, 2]);
    dispose([value, gradients, parameter, frozen]);
  });

  it("rejects nesting, non-float32 and disposed parameters", () => {
    const x = tensor([1, 2], [2]);
    const indices = tensor(Int32Array.of(1, 2), [2]);
    expect(() => valueAndGradients(() => sum(x), [indices])).toThrow(AutogradError);
    expect(() => valueAndGradients(() => sum(x), [indices])).toThrow(/parameter #0 of shape \[2\] is int32/);
    expect(() => valueAndGradients(() => valueAndGradients(() => sum(x), [x]).value, [x])).toThrow(
      /cannot be nested/,
    );
    const before = memory().tensors;
    const disposed = tensor([1], [1]);
    disposed.dispose();
    expect(() => valueAndGradients(() => sum(x), [disposed])).toThrow(/disposed/);
    // After the failures nothing is recording and nothing leaked.
    const after = valueAndGradients(() => sum(mul(x, x)), [x]);
    expectClose(after.gradients[0]!, [2, 4]);
    dispose(after);
    expect(memory().tensors).toBe(before);
    dispose([x, indices]);
  });

  it("releases everything it saved when fn throws", () => {
    const x = tensor([1, 2], [2]);
    const before = memory();
    expect(() =>
      valueAndGradients(() => {
        mul(x, x);
        throw new Error("boom");
      }, [x]),
    ).toThrow("boom");
    expect(memory()).toEqual(before);
    x.dispose();
  });
});

describe("crossEntropy", () => {
  it("matches log-softmax by hand, skips ignored rows and stays finite for huge logits", () => {
    const logits = tensor([1, 2, 3, 1e4, 0, -1e4, 0, 0, 0], [3, 3]);
    const labels = tensor(Int32Array.of(2, 1, CROSS_ENTROPY_IGNORE_INDEX), [3]);
    const loss = crossEntropy(logits, labels);
    // Row 0: log(e¹+e²+e³) − 3; row 1: log-softmax of the label 0 entry is −1e4 (exactly, in float32).
    const row0 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3;
    expect(Math.abs(loss.item() - (row0 + 1e4) / 2)).toBeLessThanOrEqual(1e-3);
    const { gradients } = valueAndGradients(() => crossEntropy(logits, labels), [logits]);
    const softmax0 = [1, 2, 3].map((value) => Math.exp(value) / (Math.exp(1) + Math.exp(2) + Math.exp(3)));
    expectClose(gradients[0]!, [
      softmax0[0]! / 2,
      softmax0[1]! / 2,
      (softmax0[2]! - 1) / 2,
      1 / 2,
      -1 / 2,
      0,
      0,
      0,
      0,
    ]);
    dispose([logits, labels, loss, gradients]);
  });

  it("is NaN when every row is ignored, and checks its arguments", () => {
    const logits = zeros([2, 3]);
    const ignored = tensor(Int32Array.of(-100, -100), [2]);
    expect(Number.isNaN(crossEntropy(logits, ignored).item())).toBe(true);
    expect(() => crossEntropy(logits, tensor(Int32Array.of(0, 3), [2]))).toThrow(TensorArgumentError);
    expect(() => crossEntropy(logits, tensor(Int32Array.of(0, 3), [2]))).toThrow(
      /label 3 of row 1 is outside \[0, 3\)/,
    );
    expect(() => crossEntropy(logits, tensor(Int32Array.of(0, 1, 2), [3]))).toThrow(ShapeError);
    expect(() => crossEntropy(logits, tensor([0, 1], [2]))).toThrow(DTypeError);
    expect(crossEntropy(logits, tensor(Int32Array.of(7, 1), [2]), { ignoreIndex: 7 }).item()).toBeCloseTo(
      Math.log(3),
      6,
    );
  });

  it("gives the gradient of the same loss composed from max/exp/log/sum with a one-hot selector", () => {
    const random = createGenerator(3);
    const logits = random.normal([6, 5]);
    const labels = [4, 0, -100, 2, 2, 1];
    const selector = new Float32Array(30);
    labels.forEach((label, row) => {
      if (label >= 0) selector[row * 5 + label] = 1;
    });
    const onehot = tensor(selector, [6, 5]);
    const composed = valueAndGradients(() => {
      const centered = sub(logits, max(logits, 1, true));
      const logProbabilities = sub(centered, log(sum(exp(centered), 1, true)));
      return scale(sum(mul(logProbabilities, onehot)), -1 / 5);
    }, [logits]);
    const fused = valueAndGradients(
      () => crossEntropy(logits, tensor(Int32Array.from(labels), [6])),
      [logits],
    );
    // Same float32 math in two orders: agree to float32 rounding.
    expect(Math.abs(fused.value.item() - composed.value.item())).toBeLessThanOrEqual(1e-6);
    expectClose(fused.gradients[0]!, composed.gradients[0]!.toArray(), 1e-6);
    dispose([logits, onehot, composed, fused]);
  });
});

const availableBackends = (await probeBackends())
  .filter((info) => info.availability?.available)
  .map((info) => info.name);

describe.each(availableBackends)("training a LoRA-like pair with SGD on %s", (backend) => {
  beforeAll(async () => {
    await setBackend(backend);
  });
  afterAll(async () => {
    await setBackend("js");
  });

  /**
   * A 2-layer linear model, `logits = silu(x·W₁ᵀ + s·x·Aᵀ·Bᵀ)·W₂ᵀ`, with frozen W₁ [8, 6], W₂ [4, 8] and a
   * trainable rank-2 pair A [2, 6], B [8, 2] (B starts at zero, as LoRA).
   */
  function setUp() {
    const random = createGenerator(7);
    const frozen = { first: random.normal([8, 6], 0, 0.5), second: random.normal([4, 8], 0, 0.5) };
    const inputs = random.normal([16, 6]);
    const labels = tensor(
      Int32Array.from({ length: 16 }, (_, row) => row % 4),
      [16],
    );
    const parameters = new Map([
      ["lora_A", random.kaimingUniform([2, 6], 6)],
      ["lora_B", zeros([8, 2])],
    ]);
    const loss = (current: ReadonlyMap<string, Tensor>) => {
      const base = matmul(inputs, frozen.first, { transposeB: true });
      const update = matmul(
        matmul(inputs, current.get("lora_A")!, { transposeB: true }),
        current.get("lora_B")!,
        {
          transposeB: true,
        },
      );
      const hidden = silu(add(base, scale(update, 2)));
      return crossEntropy(matmul(hidden, frozen.second, { transposeB: true }), labels);
    };
    return { frozen, inputs, labels, parameters, loss };
  }

  /** Plain SGD: new immutable parameters `p − learningRate · g` (the old ones are the caller's to dispose). */
  function sgdStep(
    parameters: ReadonlyMap<string, Tensor>,
    gradients: ReadonlyMap<string, Tensor>,
    learningRate: number,
  ): Map<string, Tensor> {
    const names = [...parameters.keys()];
    const updated = tidy(() =>
      names.map((name) => sub(parameters.get(name)!, scale(gradients.get(name)!, learningRate))),
    );
    return new Map(names.map((name, index) => [name, updated[index]!]));
  }

  it("reduces the loss, and only A and B receive gradients; base weights stay bit-identical", () => {
    const { frozen, inputs, labels, loss, parameters: initial } = setUp();
    let parameters = initial;
    const baseBefore = [frozen.first.toArray(), frozen.second.toArray()];
    const losses: number[] = [];
    for (let step = 0; step < 20; step++) {
      const { value, gradients } = valueAndGradients(() => loss(parameters), parameters);
      expect([...gradients.keys()]).toEqual(["lora_A", "lora_B"]);
      losses.push(value.item());
      const next = sgdStep(parameters, gradients, 0.5);
      dispose([value, [...gradients.values()], [...parameters.values()]]);
      parameters = next;
    }
    expect(losses[19]!).toBeLessThan(losses[0]! - 0.05);
    expect(losses.every((value) => Number.isFinite(value))).toBe(true);
    expect([frozen.first.toArray(), frozen.second.toArray()]).toEqual(baseBefore);
    dispose([frozen, inputs, labels, [...parameters.values()]]);
  });

  it("releases the tape after each step: no tensor or byte growth over many steps", () => {
    const { frozen, inputs, labels, loss, parameters: initial } = setUp();
    let parameters = initial;
    const step = () => {
      const { value, gradients } = valueAndGradients(() => loss(parameters), parameters);
      const next = sgdStep(parameters, gradients, 0.1);
      dispose([value, [...gradients.values()], [...parameters.values()]]);
      parameters = next;
    };
    step();
    const before = memory();
    for (let iteration = 0; iteration < 200; iteration++) step();
    const after = memory();
    expect(after.tensors).toBe(before.tensors);
    expect(after.storages).toBe(before.storages);
    expect(after.bytes).toBe(before.bytes);
    expect(after.backends[backend]).toEqual(before.backends[backend]);
    dispose([frozen, inputs, labels, [...parameters.values()]]);
  });
});
