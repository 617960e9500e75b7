import { afterEach, describe, expect, it } from "vitest";
import {
  add,
  addOperationObserver,
  addReadObserver,
  crossEntropy,
  dispose,
  isFinite as isFiniteElementwise,
  matmul,
  mean,
  type OperationRecord,
  ones,
  probeBackends,
  type ReadEvent,
  reshape,
  rmsNorm,
  scale,
  setBackend,
  silu,
  sum,
  tensor,
  valueAndGradients,
} from "../src/index.js";

const availableBackends = (await probeBackends())
  .filter((info) => info.availability?.available)
  .map((info) => info.name);

describe("operation observers (the autograd hook)", () => {
  it("see each public op once, with its own inputs, attributes and output, not the ops inside it", () => {
    const records: OperationRecord[] = [];
    const remove = addOperationObserver((record) => records.push(record));
    const a = tensor([1, 2, 3, 4], [2, 2]);
    const b = ones([2, 2]);
    const product = matmul(a, b, { transposeB: true });
    const average = mean(product, 1);
    remove();
    mean(product);
    expect(records.map((record) => record.name)).toEqual(["matmul", "mean"]);
    expect(records[0]).toMatchObject({
      inputs: [a, b],
      attributes: { transposeA: false, transposeB: true },
      output: product,
    });
    expect(records[1]).toMatchObject({
      inputs: [product],
      attributes: { axis: 1, keepDims: false },
      output: average,
    });
  });
});

describe.each(availableBackends)("read observers on %s", (backend) => {
  afterEach(async () => {
    await setBackend("js");
  });

  it("see every read back: public reads (sync and async), moves between backends, kernel fallbacks", async () => {
    await setBackend(backend);
    const reads: ReadEvent[] = [];
    const stop = addReadObserver((event) => reads.push(event));
    const a = tensor([1, 2, 3, 4], [2, 2]);
    const view = reshape(a, [4]);
    a.dataSync();
    await view.data();
    const total = sum(view);
    total.item();
    stop();
    a.toArray();
    expect(reads.map((event) => [event.kind, event.operation, event.synchronous])).toEqual([
      ["read", "dataSync", true],
      ["read", "data", false],
      ["read", "item", true],
    ]);
    // A view shares its storage: its reads name the same storage id.
    expect(reads[1]!.storageId).toBe(a.storageId);
    expect(reads[0]!.tensor).toBe(a);
    expect([reads[0]!.backend, reads[0]!.bytes]).toEqual([backend, 16]);
    dispose([a, view, total]);
  });

  it("report a tensor that moves to the active backend, and the inputs of a kernel that falls back to js", async () => {
    const onJs = tensor([1, 2, 3], [3]);
    await setBackend(backend);
    const reads: ReadEvent[] = [];
    const stop = addReadObserver((event) => reads.push(event));
    const doubled = add(onJs, onJs);
    const rows = isFiniteElementwise(tensor([1, 2, 3, 4], [2, 2]));
    stop();
    const expected: [string, string][] = backend === "js" ? [] : [["move", "add"]];
    // wasm has no isFinite kernel: its input is read for the js kernel.
    if (backend === "wasm") expected.push(["kernel-fallback", "isFinite"]);
    expect(reads.map((event) => [event.kind, event.operation])).toEqual(expected);
    if (backend !== "js") expect(reads[0]!.storageId).toBe(onJs.storageId);
    dispose([onJs, doubled, rows]);
  });

  it("prove that a LoRA-style training step reads back no weight and no adapter, only the labels it checks", async () => {
    await setBackend(backend);
    const weight = tensor(
      Array.from({ length: 8 * 6 }, (_, index) => Math.sin(index)),
      [8, 6],
    );
    const head = tensor(
      Array.from({ length: 5 * 8 }, (_, index) => Math.cos(index)),
      [5, 8],
    );
    const loraA = tensor(
      Array.from({ length: 2 * 6 }, (_, index) => 0.1 * index),
      [2, 6],
    );
    const loraB = tensor(
      Array.from({ length: 8 * 2 }, (_, index) => 0.01 * index),
      [8, 2],
    );
    const x = tensor(
      Array.from({ length: 3 * 6 }, (_, index) => Math.tan(index / 10)),
      [3, 6],
    );
    const labels = tensor([4, 0, -100], [3], "int32");
    const storages = new Set([weight, head, loraA, loraB, x].map((t) => t.storageId));
    const reads: ReadEvent[] = [];
    const stop = addReadObserver((event) => reads.push(event));
    const { value, gradients } = valueAndGradients(() => {
      const base = matmul(x, weight, { transposeB: true });
      const delta = matmul(matmul(x, loraA, { transposeB: true }), loraB, { transposeB: true });
      const hidden = silu(rmsNorm(add(base, scale(delta, 2)), ones([8]), 1e-6));
      return crossEntropy(matmul(hidden, head, { transposeB: true }), labels);
    }, [loraA, loraB]);
    stop();
    // Plain values only in assertions: a failing diff of ReadEvents would try to print whole backends.
    const described = reads.map((event) => `${event.kind} ${event.operation} of storage ${event.storageId}`);
    expect(described.filter((_, index) => storages.has(reads[index]!.storageId))).toEqual([]);
    expect(described).toEqual([`read dataSync of storage ${labels.storageId}`]);
    dispose([value, ...gradients, weight, head, loraA, loraB, x, labels]);
  });
});
