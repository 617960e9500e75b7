/**
 * float16 and bfloat16 storage on every backend that runs in Node (js, wasm): creation from bits and numbers,
 * exact widening on read-back, bit-exact round trips through safetensors, casts that round as torch (the
 * reference conversions of `@peftjs/io` are checked against an oracle there; here wasm must agree bit for bit on
 * random float32 patterns), byte accounting at two bytes per element, and a bfloat16 checkpoint written by torch
 * that stays 16-bit in memory while products with its weights compute in float32. The conformance table adds
 * the same rows for every backend (gpu in Chromium).
 */
import { readFileSync } from "node:fs";
import { bitsToFloat32, deserialize, type RawTensor } from "@peftjs/io";
import fc from "fast-check";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { activeBackend } from "../src/backend/registry.js";
import type { WasmBackend } from "../src/backends/wasm/index.js";
import {
  add,
  cast,
  dispose,
  fromRaw,
  gather,
  matmul,
  memory,
  probeBackends,
  setBackend,
  type Tensor,
  tensor,
  tensorFromBits,
  toRaw,
  transpose,
  zeros,
} from "../src/index.js";

const availableBackends = (await probeBackends())
  .filter((info) => info.availability?.available)
  .map((info) => info.name);

const checkpoint = deserialize(
  new Uint8Array(readFileSync(new URL("./fixtures/qwen3-bf16/model.safetensors", import.meta.url))),
);

function bitsOf(t: Tensor): number[] {
  const raw = toRaw(t, t.dtype === "bfloat16" ? "BF16" : "F16");
  return Array.from(new Uint16Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength / 2));
}

describe.each(availableBackends)("16-bit storage on %s", (backend) => {
  afterEach(async () => {
    await setBackend("js");
  });

  it("creates from bit patterns and from numbers, reads back exact float32 values", async () => {
    await setBackend(backend);
    const fromBits = tensorFromBits(Uint16Array.of(0x3f80, 0xc020, 0x7f80, 0x0001), [2, 2], "bfloat16");
    expect(fromBits.dtype).toBe("bfloat16");
    expect(Array.from(fromBits.dataSync())).toEqual([
      1,
      -2.5,
      Number.POSITIVE_INFINITY,
      bitsToFloat32(0x00010000),
    ]);
    expect(fromBits.dataSync()).toBeInstanceOf(Float32Array);
    // Numbers round to nearest even: 1 + 2⁻⁸ is a tie (→ 1), 1 + 2⁻⁸ + 2⁻²⁰ is above it (→ 1 + 2⁻⁷).
    const rounded = tensor([1 + 2 ** -8, 1 + 2 ** -8 + 2 ** -20, 0.1], [3], "bfloat16");
    expect(bitsOf(rounded)).toEqual([0x3f80, 0x3f81, 0x3dcd]);
    const half = tensor([65504, 65520, 2 ** -24, 0.1], [4], "float16");
    expect(bitsOf(half)).toEqual([0x7bff, 0x7c00, 0x0001, 0x2e66]);
    expect(() => half.item()).toThrow(RangeError);
    expect(zeros([3], "float16").toArray()).toEqual([0, 0, 0]);
    dispose([fromBits, rounded, half]);
  });

  it("counts two bytes per element, and layout ops keep the dtype without widening", async () => {
    await setBackend(backend);
    const source = tensor(
      Array.from({ length: 24 }, (_, index) => index / 7),
      [6, 4],
    );
    const rows = tensor([5, 0, 5], [3], "int32");
    const start = memory().bytes;
    const table = cast(source, "bfloat16");
    expect(memory().bytes - start).toBe(24 * 2);
    const picked = gather(table, rows);
    const turned = transpose(picked);
    expect([picked.dtype, turned.dtype]).toEqual(["bfloat16", "bfloat16"]);
    const tableBits = bitsOf(table);
    expect(bitsOf(turned)).toEqual(
      [0, 1, 2, 3].flatMap((column) => [5, 0, 5].map((row) => tableBits[row * 4 + column]!)),
    );
    dispose([source, rows, table, picked, turned]);
  });

  it("round-trips BF16 and F16 bytes written by torch bit for bit", async () => {
    await setBackend(backend);
    for (const [key, dtype, rawDtype] of [
      ["model.layers.0.self_attn.q_proj.weight", "bfloat16", "BF16"],
      ["model.norm.weight", "bfloat16", "BF16"],
    ] as const) {
      const raw = checkpoint.tensors.get(key)!;
      const loaded = fromRaw(raw, { dtype });
      expect(loaded.dtype).toBe(dtype);
      const written = toRaw(loaded, rawDtype);
      expect(Array.from(written.data)).toEqual(Array.from(raw.data));
      loaded.dispose();
    }
    const f16 = {
      dtype: "F16",
      shape: [3],
      data: new Uint8Array(Uint16Array.of(0x3c00, 0xfbff, 0x7e00).buffer),
    } as RawTensor;
    const loaded = fromRaw(f16, { dtype: "float16" });
    expect(Array.from(toRaw(loaded, "F16").data)).toEqual(Array.from(f16.data));
    expect(Array.from(loaded.dataSync())).toEqual([1, -65504, Number.NaN]);
    loaded.dispose();
  });

  it("keeps a torch bfloat16 checkpoint 16-bit in memory while products compute in float32", async () => {
    await setBackend(backend);
    const before = memory().bytes;
    const weights = new Map<string, Tensor>();
    let parameters = 0;
    for (const [key, raw] of checkpoint.tensors) {
      weights.set(key, fromRaw(raw, { dtype: "bfloat16" }));
      parameters += raw.shape.reduce((product, extent) => product * extent, 1);
    }
    expect(parameters).toBe(164_288);
    expect(memory().bytes - before).toBe(parameters * 2);
    // x · Wᵀ with the bfloat16 weight equals x · Wᵀ with its float32 upcast: matmul reads 16-bit values exactly,
    // and packs them into the same float32 panels, so the two products agree bit for bit.
    const tokens = tensor([3, 17, 900, 5], [4], "int32");
    const x = gather(weights.get("model.embed_tokens.weight")!, tokens);
    const query = matmul(x, weights.get("model.layers.0.self_attn.q_proj.weight")!, { transposeB: true });
    for (const [name, input] of [
      ["model.layers.0.self_attn.q_proj.weight", x],
      ["model.layers.1.mlp.down_proj.weight", add(query, query)],
    ] as const) {
      const upcast = fromRaw(checkpoint.tensors.get(name)!);
      const product = matmul(input, weights.get(name)!, { transposeB: true });
      const reference = matmul(input, upcast, { transposeB: true });
      expect(product.dtype).toBe("float32");
      expect(Array.from(product.dataSync())).toEqual(Array.from(reference.dataSync()));
      dispose([upcast, product, reference, ...(input === x ? [] : [input])]);
    }
    dispose([tokens, x, query, ...weights.values()]);
    expect(memory().bytes).toBe(before);
  });
});

describe.runIf(availableBackends.includes("wasm"))("wasm 16-bit kernels", () => {
  afterAll(async () => {
    await setBackend("js");
  });

  it("rounds random float32 bit patterns exactly as the js reference (subnormals, ties, NaN included)", async () => {
    const patterns = fc.sample(fc.integer({ min: 0, max: 0xffffffff }), 4000);
    // Ties and their neighbours for both formats, and the float16 subnormal range.
    for (let low = 0; low < 64; low++)
      patterns.push(0x3f800000 + 0x8000 + low - 32, 0x3f800000 + 0x1000 + low - 32);
    for (let exponent = 96; exponent < 114; exponent++) patterns.push((exponent << 23) | 0x2aaaaa);
    const values = new Float32Array(new Uint32Array(patterns).buffer);
    for (const dtype of ["bfloat16", "float16"] as const) {
      const results: number[][] = [];
      for (const backend of ["js", "wasm"]) {
        await setBackend(backend);
        const narrowed = cast(tensor(values, [values.length]), dtype);
        results.push(bitsOf(narrowed));
        const widened = cast(narrowed, "float32");
        expect(Array.from(widened.dataSync())).toEqual(Array.from(narrowed.dataSync()));
        dispose([narrowed, widened]);
      }
      const [reference, actual] = results as [number[], number[]];
      const nanCodes = dtype === "bfloat16" ? [0x7fc0] : [0x7e00, 0xfe00];
      actual.forEach((bits, index) => {
        // JavaScript numbers carry no NaN sign, so the reference cannot tell 0x7e00 from torch's 0xfe00.
        if (Number.isNaN(values[index]!)) expect(nanCodes).toContain(bits);
        else if (bits !== reference[index])
          expect({ index, bits }).toEqual({ index, bits: reference[index] });
      });
    }
  });

  it("multiplies by a bfloat16 weight without allocating a float32 copy of it", async () => {
    await setBackend("wasm");
    const wasm = activeBackend() as WasmBackend;
    const weight = cast(
      tensor(
        Array.from({ length: 512 * 384 }, (_, index) => Math.sin(index)),
        [512, 384],
      ),
      "bfloat16",
    );
    const x = tensor(
      Array.from({ length: 64 * 384 }, (_, index) => Math.cos(index)),
      [64, 384],
    );
    const heap = wasm.heap;
    const allocate = heap.allocate.bind(heap);
    const sizes: number[] = [];
    heap.allocate = (bytes: number) => {
      sizes.push(bytes);
      return allocate(bytes);
    };
    let product: Tensor;
    try {
      product = matmul(x, weight, { transposeB: true });
    } finally {
      heap.allocate = allocate;
    }
    // The output (64 × 512 float32) and the thread pool's job list; nothing the size of the float32 weight.
    expect(sizes).toContain(64 * 512 * 4);
    expect(Math.max(...sizes)).toBeLessThan(512 * 384 * 4);
    const reference = matmul(x, cast(weight, "float32"), { transposeB: true });
    expect(Array.from(product.dataSync())).toEqual(Array.from(reference.dataSync()));
    dispose([weight, x, product, reference]);
  });
});
