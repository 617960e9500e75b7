import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromFloat32, type RawTensor } from "@peftjs/io";
import * as ioNode from "@peftjs/io/node";
import { loadModel } from "@peftjs/models/node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { checkpointWithStore, loadBaseModel } from "../src/lib/base-model.js";

// The command line's base model holds the weights once (issue 17): the bytes `readCheckpoint` returns are taken
// over by the model's weight store, as the library's `loadModel` does, instead of copied into it. The test
// keeps the buffers the loader read (a spy around `readCheckpoint`) and writes into one after loading: a store
// that took them over shows the change, a store that copied them does not. So this fails the day the CLI copies
// the checkpoint again.
const captured: Map<string, RawTensor>[] = [];
vi.mock("@peftjs/io/node", async (importOriginal) => {
  const original = await importOriginal<typeof ioNode>();
  return {
    ...original,
    readCheckpoint: async (...args: Parameters<typeof original.readCheckpoint>) => {
      const checkpoint = await original.readCheckpoint(...args);
      captured.push(checkpoint.tensors);
      return checkpoint;
    },
  };
});

const embedded = fileURLToPath(new URL("../assets/stories260k/", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "peftjs-base-model-"));
/** stories260K with a tensor the model does not read (a rotary buffer, as old transformers checkpoints have). */
const folder = join(work, "with-buffer");
const buffer = "model.layers.0.self_attn.rotary_emb.inv_freq";

beforeAll(async () => {
  const { tensors } = await ioNode.readCheckpoint(embedded);
  const withBuffer = new Map(tensors);
  withBuffer.set(buffer, {
    dtype: "F32",
    shape: [4],
    data: fromFloat32(new Float32Array([1, 0.5, 0.25, 0.125]), "F32"),
  });
  await ioNode.writeCheckpoint(folder, withBuffer);
  copyFileSync(join(embedded, "config.json"), join(folder, "config.json"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("loadBaseModel holds the weights once", () => {
  it("its store takes over the bytes the files were read into (no copy)", async () => {
    captured.length = 0;
    const base = await loadBaseModel(embedded);
    expect(captured).toHaveLength(1);
    const read = captured[0]!;
    const key = "model.layers.0.self_attn.q_proj.weight";
    const before = base.store.get(key).copyBytes();
    read.get(key)!.data[0]! ^= 0xff;
    expect(base.store.get(key).copyBytes()[0]).toBe(before[0]! ^ 0xff);
    // Every tensor the model reads is in the store alone; the base keeps no other reference to its bytes.
    expect(base.store.names().filter((name) => base.otherTensors.has(name))).toEqual([]);
    expect(base.otherTensors.size).toBe(0);
    base.model.dispose();
  });

  it("has the identity the library's loadModel records", async () => {
    const base = await loadBaseModel(folder);
    const library = await loadModel(folder);
    expect(base.store.modelFingerprint()).toBe(library.weights.modelFingerprint());
    base.model.dispose();
    library.dispose();
  });

  it("keeps the tensors the model does not read, and writes every tensor back in file order", async () => {
    const { tensors } = await ioNode.readCheckpoint(folder);
    const base = await loadBaseModel(folder);
    expect([...base.otherTensors.keys()]).toEqual([buffer]);
    expect(base.tensorNames).toEqual([...tensors.keys()]);
    const written = checkpointWithStore(base);
    expect([...written.keys()]).toEqual([...tensors.keys()]);
    for (const [name, tensor] of tensors) {
      expect(written.get(name)!.dtype, name).toBe(tensor.dtype);
      expect(written.get(name)!.shape, name).toEqual(tensor.shape);
      expect(Buffer.from(written.get(name)!.data).equals(Buffer.from(tensor.data)), name).toBe(true);
    }
    // What is written is a copy: writing into it leaves the store as it was.
    const key = "model.norm.weight";
    const before = base.store.get(key).copyBytes();
    written.get(key)!.data.fill(0);
    expect(base.store.get(key).copyBytes()).toEqual(before);
    base.model.dispose();
  });
});
