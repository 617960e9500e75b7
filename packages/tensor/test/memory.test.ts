import { afterAll, describe, expect, it } from "vitest";
import {
  add,
  DisposedTensorError,
  dispose,
  keep,
  matmul,
  memory,
  ones,
  probeBackends,
  reshape,
  setBackend,
  softmax,
  tensor,
  tidy,
} from "../src/index.js";

// The leak check runs on every backend that initialises here (js; wasm and gpu where available).
const availableBackends = (await probeBackends())
  .filter((info) => info.availability?.available)
  .map((info) => info.name);

describe.each(availableBackends)("no growth on %s", (backend) => {
  afterAll(async () => {
    await setBackend("js");
  });

  it("over a thousand iterations of a tidy training-like step", async () => {
    await setBackend(backend);
    const weight = ones([16, 16]);
    let state = keep(ones([4, 16]));
    const before = memory();
    for (let iteration = 0; iteration < 1000; iteration++) {
      const next = tidy(() => {
        const hidden = matmul(state, weight);
        const activated = softmax(add(hidden, 1));
        return reshape(activated, [4, 16]);
      });
      state.dispose();
      state = next;
    }
    const after = memory();
    expect(state.backend).toBe(backend);
    expect(after.tensors).toBe(before.tensors);
    expect(after.storages).toBe(before.storages);
    expect(after.bytes).toBe(before.bytes);
    expect(after.backends[backend]).toEqual(before.backends[backend]);
    state.dispose();
    weight.dispose();
  });
});

describe("tidy, keep and dispose", () => {
  it("disposes intermediates, keeps returned tensors (also in arrays and objects) and kept ones", () => {
    const start = memory().tensors;
    let kept: ReturnType<typeof ones> | undefined;
    const result = tidy(() => {
      const a = ones([2]);
      const b = add(a, a);
      kept = keep(add(b, 1));
      return { pair: [b, a], label: "x" };
    });
    expect(result.pair[0]!.isDisposed).toBe(false);
    expect(kept!.isDisposed).toBe(false);
    expect(memory().tensors).toBe(start + 3);
    dispose([result.pair[0]!, result.pair[1]!, kept!]);
    expect(memory().tensors).toBe(start);
  });

  it("releases a tidy scope's tensors when the function throws", () => {
    const start = memory().tensors;
    expect(() =>
      tidy(() => {
        ones([3]);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(memory().tensors).toBe(start);
  });

  it("nested tidy hands returned tensors to the outer scope", () => {
    const start = memory().tensors;
    const outer = tidy(() => {
      const inner = tidy(() => add(ones([2]), 1));
      expect(inner.isDisposed).toBe(false);
      return add(inner, 1);
    });
    expect(outer.toArray()).toEqual([3, 3]);
    outer.dispose();
    expect(memory().tensors).toBe(start);
  });

  it("leaves a returned tensor that was created outside every scope alone", () => {
    const outside = ones([2]);
    tidy(() => {
      const same = tidy(() => outside);
      expect(same).toBe(outside);
      return undefined;
    });
    expect(outside.isDisposed).toBe(false);
    outside.dispose();
  });

  it("shares storage between a tensor and its reshape until both are disposed", () => {
    const start = memory();
    const a = tensor([1, 2, 3, 4], [4]);
    const b = reshape(a, [2, 2]);
    expect(memory().storages).toBe(start.storages + 1);
    a.dispose();
    expect(b.toArray()).toEqual([1, 2, 3, 4]);
    b.dispose();
    expect(memory().storages).toBe(start.storages);
    expect(memory().backends.js?.handles).toBe(start.backends.js?.handles ?? 0);
  });

  it("refuses to use a disposed tensor", () => {
    const a = ones([2]);
    a.dispose();
    expect(a.isDisposed).toBe(true);
    expect(() => a.dataSync()).toThrow(DisposedTensorError);
    expect(() => add(a, 1)).toThrow(/add: tensor #\d+ of shape \[2\] was disposed/);
    a.dispose();
  });
});

describe.each(availableBackends)("byte accounting by dtype on %s", (backend) => {
  afterAll(async () => {
    await setBackend("js");
  });

  it("counts each storage by its dtype's element size, as the backend itself does", async () => {
    await setBackend(backend);
    const start = memory();
    const floats = tensor([1, 2, 3, 4, 5], [5]);
    const integers = tensor([1, 2, 3], [3], "int32");
    const view = reshape(floats, [5, 1]);
    const after = memory();
    // 5 float32 + 3 int32 elements, 4 bytes each; the view shares its storage and adds nothing.
    expect(after.bytes - start.bytes).toBe(5 * 4 + 3 * 4);
    expect(after.backends[backend]!.bytes - (start.backends[backend]?.bytes ?? 0)).toBe(
      after.bytes - start.bytes,
    );
    dispose([floats, integers, view]);
    expect(memory().bytes).toBe(start.bytes);
  });
});
