import { describe, expect, it, vi } from "vitest";
import {
  type BaseMutatedEvent,
  BaseMutationForbiddenError,
  BaseMutationWarning,
  FrozenTensor,
  FrozenTensorWriteError,
  InvalidTensorError,
  MutationDescriptionError,
  MutationShapeError,
  type RestoredEvent,
  SnapshotMismatchError,
  UnknownTensorError,
  WeightStore,
  type WeightStoreOptions,
} from "../src/index.js";
import { float32Tensor } from "./helpers/tensors.js";

const clock = () => {
  let tick = 0;
  return () => new Date(Date.UTC(2026, 10, 28, 12, 0, tick++));
};

function makeStore(options: WeightStoreOptions = {}) {
  const warnings: BaseMutationWarning[] = [];
  const store = WeightStore.from(
    { "w.q": float32Tensor([1, 2, 3, 4], [2, 2]), "w.v": float32Tensor([5, 6], [2]) },
    { warn: (warning) => warnings.push(warning), now: clock(), ...options },
  );
  return { store, warnings };
}

const reason = { reason: 'PiSSA residual for adapter "a"', by: "test" };

describe("WeightStore reading", () => {
  it("exposes names, frozen tensors and fingerprints", () => {
    const { store } = makeStore();
    expect(store.names()).toEqual(["w.q", "w.v"]);
    expect(store.size).toBe(2);
    expect(store.has("w.q")).toBe(true);
    expect(store.get("w.q")).toBeInstanceOf(FrozenTensor);
    expect(store.tensorFingerprint("w.v")).toBe(FrozenTensor.from(float32Tensor([5, 6])).fingerprint);
    expect([...store].map(([name]) => name)).toEqual(["w.q", "w.v"]);
    expect(store.toRawTensors().get("w.v")!.data).toEqual(float32Tensor([5, 6]).data);
  });

  it("names the missing tensor and the ones it has", () => {
    const { store } = makeStore();
    expect(() => store.get("w.k")).toThrow(UnknownTensorError);
    expect(() => store.get("w.k")).toThrow('no tensor named "w.k" in the store; it holds "w.q", "w.v"');
  });

  it("refuses set and delete with FrozenTensorWriteError pointing at mutate", () => {
    const { store } = makeStore();
    expect(() => store.set("w.q", float32Tensor([0, 0, 0, 0], [2, 2]))).toThrow(FrozenTensorWriteError);
    expect(() => store.set("w.q", null)).toThrow('store.mutate("w.q", next, { reason, by })');
    expect(() => store.delete("w.v")).toThrow(FrozenTensorWriteError);
    expect(store.journal).toEqual([]);
  });
});

describe("WeightStore.adopt", () => {
  it("takes the bytes over without copying; fingerprints and reads equal a copying store's", () => {
    const source = float32Tensor([1, 2, 3, 4], [2, 2]);
    const adopted = WeightStore.adopt({ "w.q": source });
    const copied = WeightStore.from({ "w.q": float32Tensor([1, 2, 3, 4], [2, 2]) });
    expect(adopted.modelFingerprint()).toBe(copied.modelFingerprint());
    expect(adopted.get("w.q").equals(copied.get("w.q"))).toBe(true);
    // Handed over, not copied: the store reads the very buffer it was given (which is why the caller must
    // keep no writable reference). A copying store would still read 1 here.
    source.data.set(new Uint8Array(new Float32Array([9]).buffer), 0);
    expect(new Float32Array(adopted.get("w.q").copyBytes().buffer)[0]).toBe(9);
    // What it hands out is still a copy.
    const raw = adopted.get("w.q").toRaw();
    raw.data.fill(0);
    expect(new Float32Array(adopted.get("w.q").copyBytes().buffer)[0]).toBe(9);
  });

  it("shares frozen tensors and names a tensor whose bytes do not fit its shape", () => {
    const frozen = FrozenTensor.from(float32Tensor([5, 6]));
    expect(WeightStore.adopt(new Map([["w.v", frozen]])).get("w.v")).toBe(frozen);
    expect(() => WeightStore.adopt({ "w.k": { dtype: "F32", shape: [3], data: new Uint8Array(8) } })).toThrow(
      InvalidTensorError,
    );
    expect(() => WeightStore.adopt({ "w.k": { dtype: "F32", shape: [3], data: new Uint8Array(8) } })).toThrow(
      "w.k",
    );
  });
});

describe("WeightStore.mutate", () => {
  it("journals the change, emits base-mutated and warns by default", () => {
    const { store, warnings } = makeStore();
    const events: BaseMutatedEvent[] = [];
    store.on("base-mutated", (event) => events.push(event));
    const before = store.tensorFingerprint("w.q");
    const modelBefore = store.modelFingerprint();
    const entry = store.mutate("w.q", float32Tensor([0, 2, 3, 4], [2, 2]), reason);
    expect(entry).toEqual({
      sequence: 1,
      kind: "mutate",
      name: "w.q",
      fingerprintBefore: before,
      fingerprintAfter: store.tensorFingerprint("w.q"),
      reason: reason.reason,
      by: "test",
      time: "2026-11-28T12:00:00.000Z",
    });
    expect(entry.fingerprintAfter).not.toBe(before);
    expect(Object.isFrozen(entry)).toBe(true);
    expect(store.journal).toEqual([entry]);
    expect(events).toEqual([{ type: "base-mutated", store, entry }]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBeInstanceOf(BaseMutationWarning);
    expect(warnings[0]!.entry).toBe(entry);
    expect(warnings[0]!.message).toContain(`base weight "w.q" of store ${store.id} was mutated by test`);
    expect(store.modelFingerprint()).not.toBe(modelBefore);
    expect(store.originFingerprint()).toBe(modelBefore);
    expect(store.changedNames()).toEqual(["w.q"]);
  });

  it("fingerprintAt gives the model fingerprint of any earlier journal position, without old tensors", () => {
    const { store } = makeStore({ policy: "silent" });
    const atStart = store.modelFingerprint();
    expect(store.journalLength).toBe(0);
    store.mutate("w.q", float32Tensor([0, 2, 3, 4], [2, 2]), reason);
    const afterOne = store.modelFingerprint();
    store.mutate("w.q", float32Tensor([5, 2, 3, 4], [2, 2]), reason);
    const afterTwo = store.modelFingerprint();
    expect(new Set([atStart, afterOne, afterTwo]).size).toBe(3);
    expect(store.journalLength).toBe(2);
    expect(store.fingerprintAt(0)).toBe(atStart);
    expect(store.fingerprintAt(1)).toBe(afterOne);
    expect(store.fingerprintAt(2)).toBe(afterTwo);
    expect(store.originFingerprint()).toBe(atStart);
    for (const position of [-1, 3, 0.5]) expect(() => store.fingerprintAt(position)).toThrow(RangeError);
  });

  it("policy throw refuses without changing anything; silent journals without warning", () => {
    const { store, warnings } = makeStore({ policy: "throw" });
    const fingerprint = store.modelFingerprint();
    expect(() => store.mutate("w.q", float32Tensor([0, 0, 0, 0], [2, 2]), reason)).toThrow(
      BaseMutationForbiddenError,
    );
    expect(store.modelFingerprint()).toBe(fingerprint);
    expect(store.journal).toEqual([]);
    store.setPolicy("silent");
    expect(store.policy).toBe("silent");
    store.mutate("w.q", float32Tensor([0, 0, 0, 0], [2, 2]), reason);
    expect(store.journal).toHaveLength(1);
    expect(warnings).toEqual([]);
  });

  it("the default warning sink is process.emitWarning in Node", async () => {
    const store = WeightStore.from({ w: float32Tensor([1]) });
    const emitted = new Promise<Error>((resolve) => process.once("warning", resolve));
    store.mutate("w", float32Tensor([2]), reason);
    const warning = await emitted;
    expect(warning).toBeInstanceOf(BaseMutationWarning);
    expect(warning.name).toBe("BaseMutationWarning");
  });

  it("without process.emitWarning (browsers) the default sink is console.warn", () => {
    const emitWarning = process.emitWarning;
    const warned: unknown[] = [];
    const warn = vi.spyOn(console, "warn").mockImplementation((value) => warned.push(value));
    try {
      (process as { emitWarning?: unknown }).emitWarning = undefined;
      WeightStore.from({ w: float32Tensor([1]) }).mutate("w", float32Tensor([2]), reason);
    } finally {
      process.emitWarning = emitWarning;
      warn.mockRestore();
    }
    expect(warned).toHaveLength(1);
    expect(warned[0]).toBeInstanceOf(BaseMutationWarning);
  });

  it("requires the same dtype and shape, a reason and an actor", () => {
    const { store } = makeStore();
    expect(() => store.mutate("w.q", float32Tensor([1, 2, 3, 4], [4]), reason)).toThrow(
      new MutationShapeError("w.q", "F32 [2, 2]", "F32 [4]"),
    );
    expect(() => store.mutate("w.v", { dtype: "I32", shape: [2], data: new Uint8Array(8) }, reason)).toThrow(
      MutationShapeError,
    );
    expect(() => store.mutate("w.v", float32Tensor([1, 1]), { reason: " ", by: "x" })).toThrow(
      MutationDescriptionError,
    );
    expect(() => store.mutate("w.v", float32Tensor([1, 1]), { reason: "r", by: "" })).toThrow(
      /needs a non-empty "by"/,
    );
    expect(() => store.mutate("w.k", float32Tensor([1, 1]), reason)).toThrow(UnknownTensorError);
    expect(store.journal).toEqual([]);
  });

  it("copies a raw replacement, so writing into it later changes nothing", () => {
    const { store } = makeStore();
    const next = float32Tensor([9, 9]);
    store.mutate("w.v", next, reason);
    const fingerprint = store.tensorFingerprint("w.v");
    next.data.fill(0);
    expect(FrozenTensor.from(store.get("w.v").toRaw()).fingerprint).toBe(fingerprint);
  });

  it("listeners can unsubscribe", () => {
    const { store } = makeStore({ policy: "silent" });
    let calls = 0;
    const unsubscribe = store.on("base-mutated", () => calls++);
    store.mutate("w.v", float32Tensor([1, 1]), reason);
    unsubscribe();
    store.mutate("w.v", float32Tensor([2, 2]), reason);
    expect(calls).toBe(1);
  });
});

describe("snapshots, restore and forks", () => {
  it("restore puts back the snapshot bit for bit and journals each restored weight", () => {
    const { store } = makeStore({ policy: "silent" });
    const original = store.snapshot("original");
    const restoredEvents: RestoredEvent[] = [];
    store.on("restored", (event) => restoredEvents.push(event));
    store.mutate("w.q", float32Tensor([0, 0, 0, 0], [2, 2]), reason);
    const entries = store.restore(original);
    expect(store.modelFingerprint()).toBe(original.fingerprint());
    expect(store.get("w.q").equals(original.get("w.q"))).toBe(true);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      kind: "restore",
      name: "w.q",
      reason: "restore snapshot original",
      by: "restore",
    });
    expect(entries[0]!.fingerprintAfter).toBe(store.journal[0]!.fingerprintBefore);
    expect(restoredEvents).toEqual([{ type: "restored", store, snapshot: original, entries }]);
    expect(store.changedNames()).toEqual([]);
    expect(original.journal).toEqual([]);
    expect(store.journal).toHaveLength(2);
  });

  it("snapshots share the frozen tensors instead of copying them", () => {
    const { store } = makeStore();
    const snapshot = store.snapshot();
    expect(snapshot.get("w.q")).toBe(store.get("w.q"));
    expect(snapshot.size).toBe(2);
    expect(snapshot.storeId).toBe(store.id);
    expect(snapshot.label).toBeNull();
    expect(Object.isFrozen(snapshot)).toBe(true);
  });

  it("refuses a snapshot with other tensor names", () => {
    const { store } = makeStore();
    const other = WeightStore.from({ "w.q": float32Tensor([1, 2, 3, 4], [2, 2]), "w.k": float32Tensor([1]) });
    expect(() => store.restore(other.snapshot())).toThrow(SnapshotMismatchError);
    expect(() => store.restore(other.snapshot())).toThrow(
      'cannot restore: the snapshot lacks "w.v"; the snapshot has "w.k" that the store lacks',
    );
  });

  it("forks share unchanged tensors and never see each other's mutations", () => {
    const { store } = makeStore({ policy: "silent" });
    const fork = store.fork();
    expect(fork.parentId).toBe(store.id);
    expect(fork.get("w.q")).toBe(store.get("w.q"));
    fork.mutate("w.q", float32Tensor([7, 7, 7, 7], [2, 2]), reason);
    expect(store.get("w.q").equals(FrozenTensor.from(float32Tensor([1, 2, 3, 4], [2, 2])))).toBe(true);
    expect(store.journal).toEqual([]);
    store.mutate("w.v", float32Tensor([8, 8]), reason);
    expect(fork.get("w.v").equals(FrozenTensor.from(float32Tensor([5, 6])))).toBe(true);
    expect(fork.journal.map((entry) => entry.name)).toEqual(["w.q"]);
    expect(fork.get("w.v")).not.toBe(store.get("w.v"));
  });

  it("a fork inherits the journal and the policy unless told otherwise", () => {
    const { store, warnings } = makeStore();
    store.mutate("w.v", float32Tensor([8, 8]), reason);
    const strict = store.fork({ policy: "throw" });
    expect(strict.journal).toEqual(store.journal);
    expect(strict.changedNames()).toEqual(["w.v"]);
    expect(() => strict.mutate("w.v", float32Tensor([1, 1]), reason)).toThrow(BaseMutationForbiddenError);
    store.fork().mutate("w.q", float32Tensor([0, 0, 0, 0], [2, 2]), reason);
    expect(warnings).toHaveLength(2);
  });

  it("fromSnapshot builds a store with the snapshot's tensors and journal", () => {
    const { store } = makeStore({ policy: "silent" });
    store.mutate("w.v", float32Tensor([8, 8]), reason);
    const snapshot = store.snapshot();
    const copy = WeightStore.fromSnapshot(snapshot);
    expect(copy.modelFingerprint()).toBe(store.modelFingerprint());
    expect(copy.journal).toEqual(store.journal);
    expect(copy.originFingerprint()).toBe(store.originFingerprint());
  });
});
