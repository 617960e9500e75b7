import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  decodeSnapshot,
  encodeSnapshot,
  type Fingerprint,
  fingerprintModel,
  fingerprintTensor,
  type JournalEntry,
  type Snapshot,
  WeightStore,
} from "../src/index.js";
import { readSnapshotFile, writeSnapshotFile } from "../src/node.js";

/** Three small tensors of different dtypes; bytes only matter, so any byte pattern is a valid value. */
const LAYOUT = [
  { name: "model.layers.0.self_attn.q_proj.weight", dtype: "F32", shape: [2, 3], bytes: 24 },
  { name: "model.layers.0.self_attn.v_proj.weight", dtype: "BF16", shape: [4], bytes: 8 },
  { name: "model.norm.weight", dtype: "F16", shape: [3], bytes: 6 },
] as const;

type Contents = Map<string, Uint8Array>;

/** The model a store should match: its bytes per name and the length of its journal. */
interface ModelStore {
  store: WeightStore;
  contents: Contents;
  journalLength: number;
}

interface ModelSnapshot {
  snapshot: Snapshot;
  contents: Contents;
  journalLength: number;
}

type Command =
  | { type: "mutate"; store: number; tensor: number; bytes: Uint8Array }
  | { type: "snapshot"; store: number }
  | { type: "restore"; store: number; snapshot: number }
  | { type: "fork"; store: number }
  | { type: "save-load"; store: number };

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    type: fc.constant("mutate" as const),
    store: fc.nat(),
    tensor: fc.nat({ max: LAYOUT.length - 1 }),
    // Few distinct byte values, so that mutations sometimes write back an earlier value.
    bytes: fc.uint8Array({ minLength: 24, maxLength: 24, max: 2 }),
  }),
  fc.record({ type: fc.constant("snapshot" as const), store: fc.nat() }),
  fc.record({ type: fc.constant("restore" as const), store: fc.nat(), snapshot: fc.nat() }),
  fc.record({ type: fc.constant("fork" as const), store: fc.nat() }),
  fc.record({ type: fc.constant("save-load" as const), store: fc.nat() }),
);

const initialContents = (): Contents =>
  new Map(LAYOUT.map((layout, index) => [layout.name, new Uint8Array(layout.bytes).fill(index + 1)]));

const tensorFingerprint = (name: string, bytes: Uint8Array): Fingerprint => {
  const layout = LAYOUT.find((candidate) => candidate.name === name)!;
  return fingerprintTensor({ dtype: layout.dtype, shape: [...layout.shape], data: bytes });
};

const fromScratch = (contents: Contents): Fingerprint =>
  fingerprintModel([...contents].map(([name, bytes]) => [name, tensorFingerprint(name, bytes)] as const));

const sameBytes = (left: Uint8Array, right: Uint8Array) =>
  left.length === right.length && left.every((value, index) => value === right[index]);

/** Checks a store against its model: bytes, fingerprints, and a journal that explains every change. */
function checkStore(model: ModelStore, origin: Contents): void {
  const { store, contents } = model;
  for (const [name, bytes] of contents) {
    expect(sameBytes(store.get(name).copyBytes(), bytes)).toBe(true);
    expect(store.tensorFingerprint(name)).toBe(tensorFingerprint(name, bytes));
  }
  expect(store.modelFingerprint()).toBe(fromScratch(contents));
  const journal = store.journal;
  expect(journal).toHaveLength(model.journalLength);
  // Replaying the journal from the origin reproduces every weight's current fingerprint.
  const replayed = new Map([...origin].map(([name, bytes]) => [name, tensorFingerprint(name, bytes)]));
  journal.forEach((entry: JournalEntry, index) => {
    expect(entry.sequence).toBe(index + 1);
    expect(entry.fingerprintBefore).toBe(replayed.get(entry.name));
    if (entry.kind === "restore") expect(entry.fingerprintAfter).not.toBe(entry.fingerprintBefore);
    replayed.set(entry.name, entry.fingerprintAfter);
  });
  for (const [name, bytes] of contents) expect(replayed.get(name)).toBe(tensorFingerprint(name, bytes));
  expect(store.originFingerprint()).toBe(fromScratch(origin));
}

/** Runs one command on the real stores and on the model; `saveLoad` persists and reads back a snapshot. */
async function run(
  command: Command,
  stores: ModelStore[],
  snapshots: ModelSnapshot[],
  saveLoad: (snapshot: Snapshot) => Promise<Snapshot>,
): Promise<void> {
  const model = stores[command.store % stores.length]!;
  switch (command.type) {
    case "mutate": {
      const layout = LAYOUT[command.tensor]!;
      const bytes = command.bytes.slice(0, layout.bytes);
      const entry = model.store.mutate(
        layout.name,
        { dtype: layout.dtype, shape: [...layout.shape], data: bytes },
        { reason: "property test", by: "fast-check" },
      );
      expect(entry.fingerprintAfter).toBe(tensorFingerprint(layout.name, bytes));
      model.contents.set(layout.name, bytes.slice());
      model.journalLength += 1;
      break;
    }
    case "snapshot":
      snapshots.push({
        snapshot: model.store.snapshot(),
        contents: new Map(model.contents),
        journalLength: model.journalLength,
      });
      break;
    case "restore": {
      if (snapshots.length === 0) return;
      const target = snapshots[command.snapshot % snapshots.length]!;
      const changed = [...model.contents].filter(
        ([name, bytes]) => !sameBytes(bytes, target.contents.get(name)!),
      );
      const entries = model.store.restore(target.snapshot);
      expect(entries.map((entry) => entry.name)).toEqual(changed.map(([name]) => name));
      expect(model.store.modelFingerprint()).toBe(target.snapshot.fingerprint());
      model.contents = new Map(target.contents);
      model.journalLength += changed.length;
      break;
    }
    case "fork":
      stores.push({
        store: model.store.fork(),
        contents: new Map(model.contents),
        journalLength: model.journalLength,
      });
      break;
    case "save-load": {
      const snapshot = model.store.snapshot("saved");
      const loaded = await saveLoad(snapshot);
      expect(loaded.fingerprint()).toBe(snapshot.fingerprint());
      expect(loaded.journal).toEqual(snapshot.journal);
      expect(loaded.label).toBe("saved");
      stores.push({
        store: WeightStore.fromSnapshot(loaded, { policy: "silent" }),
        contents: new Map(model.contents),
        journalLength: model.journalLength,
      });
      break;
    }
  }
}

async function scenario(
  commands: Command[],
  saveLoad: (snapshot: Snapshot) => Promise<Snapshot>,
): Promise<void> {
  const origin = initialContents();
  const raw = new Map(
    LAYOUT.map((layout) => [
      layout.name,
      { dtype: layout.dtype, shape: [...layout.shape], data: origin.get(layout.name)!.slice() },
    ]),
  );
  const stores: ModelStore[] = [
    { store: WeightStore.from(raw, { policy: "silent" }), contents: initialContents(), journalLength: 0 },
  ];
  const snapshots: ModelSnapshot[] = [];
  for (const command of commands) {
    await run(command, stores, snapshots, saveLoad);
    // After every step every store matches its own model: forks never see each other's mutations.
    for (const model of stores) checkStore(model, origin);
  }
  // Restoring any snapshot anywhere is bit-identical, fingerprint included.
  for (const { snapshot, contents } of snapshots) {
    const store = stores[0]!.store.fork();
    store.restore(snapshot);
    for (const [name, bytes] of contents) expect(sameBytes(store.get(name).copyBytes(), bytes)).toBe(true);
    expect(store.modelFingerprint()).toBe(fromScratch(contents));
  }
}

describe("random sequences of mutate / snapshot / restore / fork / save / load", () => {
  it("keep every store equal to its model (in-memory save/load)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArbitrary, { maxLength: 30 }), (commands) =>
        scenario(commands, async (snapshot) => decodeSnapshot(encodeSnapshot(snapshot))),
      ),
      { numRuns: 150 },
    );
  });

  const directory = mkdtempSync(join(tmpdir(), "peftjs-state-"));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it("keep every store equal to its model (snapshot files on disk)", async () => {
    let counter = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(commandArbitrary, { maxLength: 20 }), (commands) =>
        scenario(commands, async (snapshot) => {
          const path = join(directory, `snapshot-${counter++ % 4}.safetensors`);
          await writeSnapshotFile(path, snapshot);
          return readSnapshotFile(path);
        }),
      ),
      { numRuns: 40 },
    );
  });
});
