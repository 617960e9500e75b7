import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  AdapterBaseMismatchError,
  AdapterNeedsMutatedBaseError,
  AdapterNeedsOriginalBaseError,
  type AdapterRecord,
  assertCompatible,
  checkCompatibility,
  deriveAdapterRecord,
  WeightStore,
} from "../src/index.js";
import { float32Tensor } from "./helpers/tensors.js";

const config = (file: string): unknown =>
  JSON.parse(readFileSync(new URL(`./fixtures/peft/${file}.adapter_config.json`, import.meta.url), "utf8"));

function originalStore() {
  return WeightStore.from(
    { "q.weight": float32Tensor([1, 2, 3, 4], [2, 2]), "v.weight": float32Tensor([5, 6, 7, 8], [2, 2]) },
    { policy: "silent" },
  );
}

const residual = float32Tensor([0.5, 2, 3, 3.5], [2, 2]);
const mutation = { reason: 'PiSSA residual W − s·B₀A₀ for adapter "pissa"', by: "@peftjs/adapters" };

function record(overrides: Partial<AdapterRecord>): AdapterRecord {
  return {
    name: "a",
    kind: "lora",
    initMethod: true,
    needsMutatedBase: false,
    baseFingerprint: null,
    residualBaseFingerprint: null,
    convertedFrom: null,
    producer: { name: "peftjs", version: "0.1.0" },
    ...overrides,
  };
}

function failure(result: ReturnType<typeof checkCompatibility>) {
  if (result.ok) throw new Error("expected a failed check");
  return result.error;
}

describe("checkCompatibility with recorded fingerprints", () => {
  it("accepts the base the adapter was made for", () => {
    const store = originalStore();
    expect(checkCompatibility(store, record({ baseFingerprint: store.modelFingerprint() }))).toEqual({
      ok: true,
      adapterName: "a",
      storeFingerprint: store.modelFingerprint(),
      verified: true,
      requiresMutation: false,
      overridden: [],
    });
  });

  it("refuses another model, saying which fingerprints differ", () => {
    const store = originalStore();
    const other = `fp1:${"0".repeat(32)}` as const;
    const error = failure(checkCompatibility(store, record({ baseFingerprint: other })));
    expect(error).toBeInstanceOf(AdapterBaseMismatchError);
    expect(error.message).toBe(
      `adapter "a": expects base ${other} but the store is ${store.modelFingerprint()}: it is another model or ` +
        "another version of the weights; load it on the base it was trained for",
    );
  });

  it("refuses its own base after a mutation and points at the journal and a snapshot", () => {
    const store = originalStore();
    const adapter = record({ baseFingerprint: store.modelFingerprint() });
    store.mutate("q.weight", residual, mutation);
    const error = failure(checkCompatibility(store, adapter));
    expect(error).toBeInstanceOf(AdapterBaseMismatchError);
    expect(error.message).toContain(
      `this store was the adapter's base until it was changed ("q.weight" by @peftjs/adapters: ${mutation.reason})`,
    );
    expect(error.remedy).toContain("restore a snapshot taken before the change");
  });

  it("residual-mode records: fine on their residual, need allowMutation on the original", () => {
    const store = originalStore();
    const original = store.modelFingerprint();
    const fork = store.fork();
    fork.mutate("q.weight", residual, mutation);
    const adapter = record({
      initMethod: "pissa",
      needsMutatedBase: true,
      baseFingerprint: original,
      residualBaseFingerprint: fork.modelFingerprint(),
    });
    expect(checkCompatibility(fork, adapter)).toMatchObject({
      ok: true,
      verified: true,
      requiresMutation: false,
    });
    expect(failure(checkCompatibility(store, adapter))).toBeInstanceOf(AdapterNeedsMutatedBaseError);
    expect(checkCompatibility(store, adapter, { allowMutation: true })).toMatchObject({
      ok: true,
      verified: true,
      requiresMutation: true,
    });
    const third = WeightStore.from({
      "q.weight": float32Tensor([9, 9, 9, 9], [2, 2]),
      "v.weight": float32Tensor([0, 0, 0, 0], [2, 2]),
    });
    const error = failure(checkCompatibility(third, adapter));
    expect(error.message).toContain(
      `expects base ${adapter.residualBaseFingerprint} (residual) or ${original} (original`,
    );
    expect(error.remedy).toBe(
      "load it on the base it was trained for, or convert it to LoRA and load it on that base",
    );
  });
});

describe("checkCompatibility with PEFT adapters (no fingerprints)", () => {
  it("a plain LoRA loads unverified on an unchanged base", () => {
    const store = originalStore();
    const lora = deriveAdapterRecord(config("lora_default_adapter_trained"), { name: "lora" });
    expect(checkCompatibility(store, lora)).toMatchObject({
      ok: true,
      verified: false,
      requiresMutation: false,
    });
  });

  it("an unconverted PiSSA adapter: load it on a fork, or convert it to LoRA", () => {
    const store = originalStore();
    const pissa = deriveAdapterRecord(config("pissa_adapter_trained"), { name: "pissa" });
    const error = failure(checkCompatibility(store, pissa));
    expect(error).toBeInstanceOf(AdapterNeedsMutatedBaseError);
    expect(error.message).toBe(
      'adapter "pissa": it was trained with init "pissa" and not converted, so it only fits a base rewritten to ' +
        "the residual W − s·B₀A₀, and this store must not be mutated; load it on a fork (store.fork()), or " +
        "convert it to LoRA (A' = [A; A₀], B' = [B, −B₀]) to use it on the original base",
    );
    expect(checkCompatibility(store.fork(), pissa, { allowMutation: true })).toMatchObject({
      ok: true,
      verified: false,
      requiresMutation: true,
    });
  });

  it("the mixing hazard (PEFT issue #2184): after a PiSSA residual, plain LoRA and a second PiSSA are refused", () => {
    const store = originalStore();
    const lora = deriveAdapterRecord(config("lora_default_adapter_trained"), { name: "lora" });
    const pissa = deriveAdapterRecord(config("pissa_adapter_trained"), { name: "pissa" });
    expect(checkCompatibility(store, lora).ok).toBe(true);
    expect(checkCompatibility(store, pissa, { allowMutation: true }).ok).toBe(true);
    store.mutate("q.weight", residual, mutation);

    const loraError = failure(checkCompatibility(store, lora));
    expect(loraError).toBeInstanceOf(AdapterNeedsOriginalBaseError);
    expect((loraError as AdapterNeedsOriginalBaseError).changedNames).toEqual(["q.weight"]);
    expect(loraError.message).toContain("1 base weight(s) of this store were changed");

    const again = failure(checkCompatibility(store, pissa, { allowMutation: true }));
    expect(again).toBeInstanceOf(AdapterNeedsOriginalBaseError);
    expect(again.remedy).toContain("subtracts B₀A₀ twice");
    expect(again.remedy).toContain("or convert it to LoRA");

    // The safe path: the converted adapter is a plain LoRA, and a restored original accepts it.
    const original = originalStore().snapshot();
    store.restore(original);
    expect(checkCompatibility(store, deriveAdapterRecord(config("pissa_adapter_converted"))).ok).toBe(true);
  });
});

describe("overrides and assertions", () => {
  it("force turns a failure into ok, listing what was overridden", () => {
    const store = originalStore();
    const adapter = record({ baseFingerprint: `fp1:${"0".repeat(32)}` });
    const result = checkCompatibility(store, adapter, { force: true });
    expect(result).toMatchObject({ ok: true, verified: false, requiresMutation: false });
    expect(result.ok && result.overridden[0]).toContain("expects base fp1:0000");
  });

  it("assertCompatible throws the typed error or returns the ok result", () => {
    const store = originalStore();
    expect(() => assertCompatible(store, record({ baseFingerprint: `fp1:${"0".repeat(32)}` }))).toThrow(
      AdapterBaseMismatchError,
    );
    expect(assertCompatible(store, record({})).verified).toBe(false);
  });
});
