import { describe, expect, it } from "vitest";
import { addOperationObserver, matmul, mean, type OperationRecord, ones, tensor } from "../src/index.js";

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
