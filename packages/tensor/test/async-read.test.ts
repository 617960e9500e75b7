/**
 * The asynchronous read path of the engine, in Node, on a backend that (like gpu.js's WebGPU mode) can only
 * read back asynchronously: here the `js` kernels behind a storage whose `read` refuses and whose `readAsync`
 * answers on a later turn. What runs on `webgpu` itself is checked in Chromium (test/browser/).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { JsBackend } from "../src/backends/js/js-backend.js";
import {
  type Backend,
  crossEntropy,
  dispose,
  frobeniusNorm,
  frobeniusNormAsync,
  getBackend,
  listBackends,
  matmul,
  memory,
  registerBackend,
  SynchronousReadError,
  setBackend,
  softmax,
  tensor,
  unregisterBackend,
  valueAndGradients,
} from "../src/index.js";
import {
  conformanceCases,
  gradientCheckCases,
  runConformanceSuite,
  runGradientCheckSuite,
} from "../src/testing/index.js";

const name = "test-async-only";

/** The js kernels and storage, readable only asynchronously; `without` lists kernels it lacks. */
function asyncOnlyBackend(without: readonly string[] = []): Backend {
  const storage = new JsBackend();
  const kernels = Object.fromEntries(
    Object.entries(storage.kernels)
      .filter(([kernel]) => !without.includes(kernel))
      .map(([kernel, run]) => [
        kernel,
        (inputs: never, attributes: never) =>
          (run as (...args: unknown[]) => unknown)(inputs, attributes, storage),
      ]),
  );
  return {
    name,
    // Above every built-in backend: `auto` must still skip it, because it cannot read synchronously.
    priority: 10,
    readsSynchronously: false,
    initialize: async () => ({ available: true, reason: "asynchronous reads only (test)" }),
    upload: (values, dtype) => storage.upload(values, dtype),
    read: () => {
      throw new Error("the engine must not read this backend synchronously");
    },
    readAsync: async (handle) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return storage.read(handle).slice();
    },
    dispose: (handle) => storage.dispose(handle),
    memory: () => storage.memory(),
    kernels,
  };
}

describe("a backend that reads only asynchronously", () => {
  beforeAll(() => {
    registerBackend({ name, priority: 10, create: () => asyncOnlyBackend(["argmax"]) });
  });
  afterEach(async () => {
    await setBackend("js");
  });
  afterAll(() => {
    unregisterBackend(name);
  });

  it("can be selected by name (its self-test reads asynchronously) but never by auto", async () => {
    await setBackend(name);
    expect(getBackend()).toBe(name);
    await setBackend("auto");
    expect(getBackend()).not.toBe(name);
    expect(listBackends().find((info) => info.name === name)?.availability?.available).toBe(true);
  });

  it("serves await data() and its siblings, and refuses synchronous reads with a typed error", async () => {
    await setBackend(name);
    const x = tensor([1, 2, 3, 4], [2, 2]);
    const y = softmax(matmul(x, x));
    expect(y.backend).toBe(name);
    expect(() => y.dataSync()).toThrow(SynchronousReadError);
    expect(() => y.toArray()).toThrow(
      /dataSync\(\) of tensor #\d+ \[2, 2\] float32 needs a synchronous read, but backend "test-async-only"/,
    );
    expect(() => frobeniusNorm(y)).toThrow(SynchronousReadError);
    const values = await y.data();
    expect(values).toBeInstanceOf(Float32Array);
    // x·x = [[7, 10], [15, 22]]; softmax of each row.
    const rows = [
      [7, 10],
      [15, 22],
    ].flatMap(([a, b]) => [1 / (1 + Math.exp(b! - a!)), 1 / (1 + Math.exp(a! - b!))]);
    Array.from(values).forEach((value, index) => {
      expect(value).toBeCloseTo(rows[index]!, 6);
    });
    expect(await y.toArrayAsync()).toEqual(Array.from(values));
    expect(await frobeniusNormAsync(x)).toBeCloseTo(Math.sqrt(30), 5);
    // A read in flight survives the tensor's disposal.
    const pending = x.data();
    x.dispose();
    expect(Array.from(await pending)).toEqual([1, 2, 3, 4]);
    y.dispose();
  });

  it("refuses to move a tensor off it, or to fall back to js for a kernel it lacks, synchronously", async () => {
    await setBackend(name);
    const x = tensor([3, 1, 2], [3]);
    await setBackend("js");
    expect(() => softmax(x)).toThrow(SynchronousReadError);
    await setBackend(name);
    const { argmax } = await import("../src/index.js");
    expect(() => argmax(x)).toThrow(
      /kernel "argmax" \(missing on "test-async-only", so it falls back to js\)/,
    );
    x.dispose();
  });

  it("checks labels on the device: an invalid label makes the loss NaN instead of reading labels back", async () => {
    await setBackend(name);
    const logits = tensor([0.5, -1, 2, 0, 1, 1], [2, 3]);
    const good = tensor([2, -100], [2], "int32");
    const bad = tensor([2, 7], [2], "int32");
    const loss = crossEntropy(logits, good);
    const invalid = crossEntropy(logits, bad);
    const expected = Math.log(Math.exp(0.5) + Math.exp(-1) + Math.exp(2)) - 2;
    expect(await loss.itemAsync()).toBeCloseTo(expected, 6);
    expect(await invalid.itemAsync()).toBeNaN();
    dispose([logits, good, bad, loss, invalid]);
  });

  it("runs a training step (loss and gradients) with no synchronous read", async () => {
    await setBackend(name);
    const before = memory().tensors;
    const step = () => {
      const weight = tensor([0.1, -0.2, 0.3, 0.05, 0.4, -0.1], [3, 2]);
      const x = tensor([1, 2, -1, 0.5], [2, 2]);
      const labels = tensor([0, 2], [2], "int32");
      const { value, gradients } = valueAndGradients(
        () => crossEntropy(softmax(matmul(x, weight, { transposeB: true })), labels),
        [weight],
      );
      dispose([weight, x, labels]);
      return [value, gradients[0]!] as const;
    };
    const [value, gradient] = step();
    await setBackend("js");
    const [referenceValue, referenceGradient] = step();
    expect(await value.itemAsync()).toBeCloseTo(await referenceValue.itemAsync(), 6);
    const actual = await gradient.toArrayAsync();
    (await referenceGradient.toArrayAsync()).forEach((expected, index) => {
      expect(actual[index]).toBeCloseTo(expected, 6);
    });
    dispose([value, gradient, referenceValue, referenceGradient]);
    expect(memory().tensors).toBe(before);
  });

  it("replays the conformance table and the gradient-check table through the asynchronous path", async () => {
    const conformance = await runConformanceSuite(name, (testCase) => !testCase.name.includes("1024, 1024"));
    const failures = conformance.filter((result) => !result.passed);
    // Every failure is the one kernel this backend lacks (argmax falls back to js, which needs a synchronous read).
    expect(failures.map((result) => result.op)).toEqual(failures.map(() => "argmax"));
    expect(conformance.length).toBe(
      conformanceCases.filter((testCase) => !testCase.name.includes("1024, 1024")).length,
    );
    const gradientChecks = await runGradientCheckSuite(name);
    expect(gradientChecks.length).toBe(gradientCheckCases.length);
    // The scatter-type gradients (gather, max, clamp) read back on the host: on this backend they throw the
    // typed error instead of computing something wrong; every other rule runs on the device.
    for (const check of gradientChecks) {
      if (/^(gather|max|clamp)/.test(check.name)) expect(check.failure).toMatch(/SynchronousReadError/);
      else expect(check.failure).toBeUndefined();
    }
  });
});
