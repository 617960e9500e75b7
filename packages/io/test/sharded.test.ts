import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  CheckpointError,
  formatCheckpointIndex,
  openSafetensors,
  openShardedCheckpoint,
  parseCheckpointIndex,
  parseShardSize,
  planShards,
  shardFileName,
} from "../src/index.js";
import { openCheckpoint, readCheckpoint, writeCheckpoint } from "../src/node.js";
import { fixtureBytes, fixtureJson, fixturesFolder } from "./helpers.js";

interface ShardedExpected {
  shards: string[];
  index_metadata: Record<string, number>;
  tensors: Record<
    string,
    { shard: string; dtype: string; shape: number[]; data_offsets: [number, number]; sha256: string }
  >;
}

const shardedFolder = join(fixturesFolder, "sharded");
const expected = fixtureJson<ShardedExpected>("sharded/expected.json");
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), "peftjs-io-sharded-"));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe("the transformers sharded fixture", () => {
  it("reads as one model: every tensor with its dtype, shape, shard and sha256", async () => {
    const { tensors, metadata, index } = await readCheckpoint(shardedFolder);
    expect(metadata).toEqual({ format: "pt" });
    expect(index?.metadata).toEqual(expected.index_metadata);
    expect([...tensors.keys()].sort()).toEqual(Object.keys(expected.tensors).sort());
    for (const [name, wanted] of Object.entries(expected.tensors)) {
      const tensor = tensors.get(name);
      expect(tensor?.dtype, name).toBe(wanted.dtype);
      expect(tensor?.shape, name).toEqual(wanted.shape);
      expect(sha256(tensor?.data as Uint8Array), name).toBe(wanted.sha256);
    }
  });

  it("opens lazily with each tensor's shard and offsets", async () => {
    const reader = await openCheckpoint(shardedFolder);
    for (const info of reader.tensors) {
      const wanted = expected.tensors[info.name];
      expect(info.fileName).toBe(wanted?.shard);
      expect(info.dataOffsets).toEqual(wanted?.data_offsets);
    }
    const one = await reader.read("model.norm.weight");
    expect(sha256(one.data)).toBe(expected.tensors["model.norm.weight"]?.sha256);
    await reader.close();
  });

  it("is reproduced byte for byte by writeCheckpoint with maxShardSize 600KB (shards and index)", async () => {
    const { tensors } = await readCheckpoint(shardedFolder);
    const written = await writeCheckpoint(folder, tensors, { maxShardSize: "600KB" });
    expect(written).toEqual([...expected.shards, "model.safetensors.index.json"]);
    for (const file of written) {
      const ours = await readFile(join(folder, file));
      const theirs = await readFile(join(shardedFolder, file));
      expect(ours.equals(theirs), file).toBe(true);
    }
  });

  it("can be opened from URLs or any other source through openShardedCheckpoint", async () => {
    const index = parseCheckpointIndex(
      JSON.parse(await readFile(join(shardedFolder, "model.safetensors.index.json"), "utf8")),
    );
    const reader = await openShardedCheckpoint(index, (file) =>
      openSafetensors(fixtureBytes(`sharded/${file}`)),
    );
    expect(reader.names.length).toBe(Object.keys(expected.tensors).length);
    await reader.close();
  });
});

describe("writeCheckpoint", () => {
  const tensor = (bytes: number) => ({
    dtype: "U8" as const,
    shape: [bytes],
    data: new Uint8Array(bytes).fill(bytes % 251),
  });

  it("creates the folder when it does not exist, as save_pretrained does", async () => {
    const nested = join(folder, "new", "model");
    expect(await writeCheckpoint(nested, { a: tensor(10) })).toEqual(["model.safetensors"]);
    expect((await readCheckpoint(nested)).tensors.get("a")?.shape).toEqual([10]);
  });

  it("writes a single model.safetensors without index when everything fits, and removes stale shards", async () => {
    await writeCheckpoint(folder, { a: tensor(10), b: tensor(20), c: tensor(10) }, { maxShardSize: 15 });
    expect((await readdir(folder)).sort()).toEqual([
      "model-00001-of-00003.safetensors",
      "model-00002-of-00003.safetensors",
      "model-00003-of-00003.safetensors",
      "model.safetensors.index.json",
    ]);
    expect((await readCheckpoint(folder)).tensors.size).toBe(3);
    await writeCheckpoint(folder, { a: tensor(10), b: tensor(20) });
    expect(await readdir(folder)).toEqual(["model.safetensors"]);
    const { tensors, metadata, index } = await readCheckpoint(folder);
    expect(index).toBeNull();
    expect(metadata).toEqual({ format: "pt" });
    expect([...(tensors.get("b")?.data ?? [])]).toEqual([...tensor(20).data]);
  });

  it("gives an oversized tensor its own shard, as huggingface_hub does", () => {
    const plan = planShards(
      [
        ["a", { dtype: "U8", shape: [4] }],
        ["b", { dtype: "U8", shape: [100] }],
        ["c", { dtype: "U8", shape: [4] }],
      ],
      10,
    );
    expect(plan.shards.map((shard) => shard.names)).toEqual([["b"], ["a", "c"]]);
    expect(plan.index?.metadata).toEqual({ total_parameters: 108, total_size: 108 });
    expect(plan.index?.weight_map).toEqual({
      a: "model-00002-of-00002.safetensors",
      b: "model-00001-of-00002.safetensors",
      c: "model-00002-of-00002.safetensors",
    });
  });

  it("formats the index as Python's json.dumps(indent=2, sort_keys=True), ASCII-escaped", () => {
    const text = formatCheckpointIndex({
      metadata: { total_size: 3, total_parameters: 3 },
      weight_map: { "é🙂\n": "x.safetensors", a: "y.safetensors" },
    });
    expect(text).toBe(
      '{\n  "metadata": {\n    "total_parameters": 3,\n    "total_size": 3\n  },\n  "weight_map": {\n    "a": "y.safetensors",\n    "\\u00e9\\ud83d\\ude42\\n": "x.safetensors"\n  }\n}\n',
    );
  });

  it("parses shard sizes like huggingface_hub", () => {
    expect(parseShardSize("600KB")).toBe(600_000);
    expect(parseShardSize("5GB")).toBe(5_000_000_000);
    expect(parseShardSize("2GiB")).toBe(2 * 2 ** 30);
    expect(parseShardSize(1234)).toBe(1234);
    expect(() => parseShardSize("lots")).toThrow(CheckpointError);
    expect(shardFileName("adapter_model.safetensors", 0, 3)).toBe("adapter_model-00001-of-00003.safetensors");
  });
});

describe("broken checkpoints", () => {
  it("rejects a folder without weights, an index naming a missing shard or tensor, and path tricks", async () => {
    await expect(openCheckpoint(folder)).rejects.toThrow(CheckpointError);
    const indexPath = join(folder, "model.safetensors.index.json");
    await writeFile(indexPath, JSON.stringify({ metadata: {}, weight_map: { w: "missing.safetensors" } }));
    await expect(openCheckpoint(folder)).rejects.toThrow(/missing.safetensors/);
    await writeFile(indexPath, JSON.stringify({ weight_map: { w: "../escape.safetensors" } }));
    await expect(openCheckpoint(folder)).rejects.toThrow(CheckpointError);
    await writeFile(indexPath, "{not json");
    await expect(openCheckpoint(folder)).rejects.toThrow(CheckpointError);
    await writeCheckpoint(
      folder,
      { a: { dtype: "U8", shape: [1], data: new Uint8Array(1) } },
      { weightsName: "shard.safetensors" },
    );
    await writeFile(indexPath, JSON.stringify({ weight_map: { b: "shard.safetensors" } }));
    await expect(openCheckpoint(folder)).rejects.toThrow(/does not contain it/);
  });
});
