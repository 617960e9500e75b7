import { describe, expect, it } from "vitest";
import { FrozenTensor, InvalidTensorError } from "../src/index.js";
import { float32Tensor, patternTensor } from "./helpers/tensors.js";

describe("FrozenTensor", () => {
  it("keeps a private copy: writing into the source afterwards does not reach it", () => {
    const raw = float32Tensor([1, 2, 3, 4], [2, 2]);
    const frozen = FrozenTensor.from(raw);
    const before = frozen.fingerprint;
    raw.data.fill(0);
    raw.shape[0] = 7;
    expect([...new Float32Array(frozen.toRaw().data.buffer)]).toEqual([1, 2, 3, 4]);
    expect(frozen.shape).toEqual([2, 2]);
    expect(FrozenTensor.from(float32Tensor([1, 2, 3, 4], [2, 2])).fingerprint).toBe(before);
  });

  it("hands out copies only: writing into toRaw() or copyBytes() leaves it unchanged", () => {
    const frozen = FrozenTensor.from(float32Tensor([5, 6]));
    const fingerprint = frozen.fingerprint;
    frozen.toRaw().data.fill(255);
    frozen.copyBytes().fill(255);
    expect(frozen.equals(FrozenTensor.from(float32Tensor([5, 6])))).toBe(true);
    expect(FrozenTensor.from(frozen.toRaw()).fingerprint).toBe(fingerprint);
  });

  it("is a frozen object with a frozen shape", () => {
    const frozen = FrozenTensor.from(float32Tensor([1]));
    expect(Object.isFrozen(frozen)).toBe(true);
    expect(Object.isFrozen(frozen.shape)).toBe(true);
    expect(() => {
      (frozen as unknown as { dtype: string }).dtype = "F16";
    }).toThrow(TypeError);
    expect(() => {
      (frozen.shape as number[])[0] = 2;
    }).toThrow(TypeError);
  });

  it("keeps bf16 bytes as bf16 and reports size and element count", () => {
    const raw = patternTensor("BF16", [3, 5], 7, 2);
    const frozen = FrozenTensor.from(raw);
    expect(frozen.dtype).toBe("BF16");
    expect(frozen.byteLength).toBe(30);
    expect(frozen.elementCount).toBe(15);
    expect(frozen.copyBytes()).toEqual(raw.data);
  });

  it("compares bit for bit: -0 differs from 0, equal NaN payloads are equal", () => {
    const zero = FrozenTensor.from(float32Tensor([0]));
    const negativeZero = FrozenTensor.from(float32Tensor([-0]));
    expect(zero.equals(negativeZero)).toBe(false);
    expect(zero.fingerprint).not.toBe(negativeZero.fingerprint);
    expect(
      FrozenTensor.from(float32Tensor([Number.NaN])).equals(FrozenTensor.from(float32Tensor([Number.NaN]))),
    ).toBe(true);
    expect(zero.equals(FrozenTensor.from(float32Tensor([0], [1, 1])))).toBe(false);
  });

  it("rejects bytes that do not match dtype and shape, naming the tensor", () => {
    expect(() => FrozenTensor.from({ dtype: "F32", shape: [3], data: new Uint8Array(8) }, "w")).toThrow(
      new InvalidTensorError("w", "F32 [3] needs 12 bytes but data has 8"),
    );
    expect(() =>
      FrozenTensor.from({ dtype: "F33" as "F32", shape: [1], data: new Uint8Array(4) }, "w"),
    ).toThrow(/unknown dtype "F33"/);
    expect(() => FrozenTensor.from({ dtype: "F32", shape: [-1], data: new Uint8Array(0) }, "w")).toThrow(
      /shape \[-1\] is not a list of non-negative integers/,
    );
  });
});
