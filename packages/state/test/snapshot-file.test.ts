import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deserialize, serialize } from "@peftjs/io";
import { afterAll, describe, expect, it } from "vitest";
import {
  decodeSnapshot,
  encodeSnapshot,
  SNAPSHOT_METADATA_KEYS,
  SnapshotFormatError,
  WeightStore,
} from "../src/index.js";
import { readSnapshotFile, writeSnapshotFile } from "../src/node.js";
import { float32Tensor } from "./helpers/tensors.js";

const directory = mkdtempSync(join(tmpdir(), "peftjs-state-files-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function mutatedStore() {
  const store = WeightStore.from(
    {
      a: float32Tensor([1, 2, 3]),
      b: { dtype: "BF16", shape: [2], data: new Uint8Array([0x80, 0x3f, 0, 0x40]) },
    },
    {
      policy: "silent",
      now: () => new Date("2026-11-28T15:00:00Z"),
    },
  );
  store.mutate("a", float32Tensor([1, 2, 4]), { reason: "residual", by: "test" });
  return store;
}

describe("snapshot files", () => {
  it("are safetensors files with the journal and fingerprint in peftjs.snapshot.* metadata", async () => {
    const store = mutatedStore();
    const snapshot = store.snapshot("after residual");
    const path = join(directory, "a.safetensors");
    await writeSnapshotFile(path, snapshot);
    const { tensors, metadata } = deserialize(new Uint8Array(readFileSync(path)));
    expect([...tensors.keys()].sort()).toEqual(["a", "b"]);
    expect(tensors.get("b")!.dtype).toBe("BF16");
    expect(metadata).toMatchObject({
      format: "pt",
      [SNAPSHOT_METADATA_KEYS.version]: "1",
      [SNAPSHOT_METADATA_KEYS.label]: "after residual",
      [SNAPSHOT_METADATA_KEYS.fingerprint]: store.modelFingerprint(),
      [SNAPSHOT_METADATA_KEYS.createdAt]: "2026-11-28T15:00:00.000Z",
    });
    expect(JSON.parse(metadata![SNAPSHOT_METADATA_KEYS.journal]!)).toEqual(store.journal);

    const loaded = await readSnapshotFile(path);
    expect(loaded.id).toBe(snapshot.id);
    expect(loaded.storeId).toBe(store.id);
    expect(loaded.journal).toEqual(store.journal);
    const restored = WeightStore.fromSnapshot(loaded);
    expect(restored.modelFingerprint()).toBe(store.modelFingerprint());
    expect(restored.changedNames()).toEqual(["a"]);
  });

  it("overwrite an existing file in place", async () => {
    const path = join(directory, "b.safetensors");
    const store = mutatedStore();
    await writeSnapshotFile(path, store.snapshot("first"));
    store.mutate("a", float32Tensor([0, 0, 0]), { reason: "again", by: "test" });
    await writeSnapshotFile(path, store.snapshot("second"));
    expect((await readSnapshotFile(path)).label).toBe("second");
  });

  it("detect corrupted bytes through the recorded fingerprint (unless verify is off)", async () => {
    const path = join(directory, "c.safetensors");
    await writeSnapshotFile(path, mutatedStore().snapshot());
    const bytes = readFileSync(path);
    bytes[bytes.length - 1]! ^= 0x01;
    const corrupted = join(directory, "c-corrupted.safetensors");
    writeFileSync(corrupted, bytes);
    await expect(readSnapshotFile(corrupted)).rejects.toThrow(SnapshotFormatError);
    await expect(readSnapshotFile(corrupted)).rejects.toThrow(
      /records fingerprint fp1:[0-9a-f]{32} but its tensors hash to fp1:/,
    );
    expect((await readSnapshotFile(corrupted, { verify: false })).size).toBe(2);
  });

  it("refuse plain model files and malformed metadata, saying what is wrong", async () => {
    const plain = join(directory, "plain.safetensors");
    copyFileSync(new URL("./fixtures/stories260k/model.safetensors", import.meta.url), plain);
    await expect(readSnapshotFile(plain)).rejects.toThrow(
      'not a peftjs snapshot: the metadata has no "peftjs.snapshot.version" key',
    );

    const { tensors, metadata } = deserialize(encodeSnapshot(mutatedStore().snapshot()));
    const rewrite = (changes: Record<string, string>) => serialize(tensors, { ...metadata!, ...changes });
    expect(() => decodeSnapshot(rewrite({ [SNAPSHOT_METADATA_KEYS.version]: "9" }))).toThrow(
      /snapshot format "9" is not supported/,
    );
    expect(() => decodeSnapshot(rewrite({ [SNAPSHOT_METADATA_KEYS.journal]: "{" }))).toThrow(
      "the journal is not valid JSON",
    );
    expect(() => decodeSnapshot(rewrite({ [SNAPSHOT_METADATA_KEYS.journal]: '[{"sequence":1}]' }))).toThrow(
      'journal entry 0: lacks "kind"',
    );
    expect(() => decodeSnapshot(rewrite({ [SNAPSHOT_METADATA_KEYS.fingerprint]: "md5" }))).toThrow(
      'peftjs.snapshot.fingerprint "md5" is not a fingerprint',
    );
  });

  it("decodeSnapshot copies out of the caller's bytes", () => {
    const bytes = encodeSnapshot(mutatedStore().snapshot());
    const snapshot = decodeSnapshot(bytes);
    const fingerprint = snapshot.fingerprint();
    bytes.fill(0);
    expect(WeightStore.fromSnapshot(snapshot).modelFingerprint()).toBe(fingerprint);
    expect([...new Float32Array(snapshot.get("a").copyBytes().buffer)]).toEqual([1, 2, 4]);
  });
});
