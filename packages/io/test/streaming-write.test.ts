import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { deserialize, FileSystemError, SafetensorsInvalidTensorError, serialize } from "../src/index.js";
import {
  type LazyTensor,
  openCheckpoint,
  readJsonFile,
  readSafetensorsFile,
  writeFileAtomic,
  writeJsonFileAtomic,
  writeSafetensorsFile,
} from "../src/node.js";
import { fixtureBytes, validFixtureNames } from "./helpers.js";

const packageFolder = join(dirname(fileURLToPath(import.meta.url)), "..");
let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), "peftjs-io-write-"));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe("writeSafetensorsFile", () => {
  it.each(validFixtureNames)("writes %s byte-identical to the official file", async (fixture) => {
    const original = fixtureBytes(`${fixture}.safetensors`);
    const { tensors, metadata } = deserialize(original);
    const path = join(folder, "out.safetensors");
    await writeSafetensorsFile(path, tensors, metadata);
    expect((await readFile(path)).equals(Buffer.from(original))).toBe(true);
    expect(await readdir(folder)).toEqual(["out.safetensors"]);
  });

  it("produces lazy tensors one at a time, in file order, from values, promises and chunk streams", async () => {
    const events: string[] = [];
    const lazy = (
      name: string,
      bytes: number[],
      form: "value" | "promise" | "chunks" | "async",
    ): LazyTensor => ({
      dtype: "U8",
      shape: [bytes.length],
      data: () => {
        events.push(`start ${name}`);
        const data = Uint8Array.from(bytes);
        if (form === "value") return data;
        if (form === "promise") return Promise.resolve(data);
        if (form === "chunks") return [data.subarray(0, 1), data.subarray(1)];
        return (async function* () {
          yield data.subarray(0, 2);
          events.push(`middle ${name}`);
          yield data.subarray(2);
        })();
      },
    });
    const path = join(folder, "lazy.safetensors");
    const f32 = { dtype: "F32" as const, shape: [1], data: new Uint8Array(new Float32Array([1.5]).buffer) };
    await writeSafetensorsFile(path, {
      d: lazy("d", [4, 4, 4], "async"),
      c: lazy("c", [3, 3], "chunks"),
      b: lazy("b", [2], "promise"),
      a: lazy("a", [1], "value"),
      z: f32,
    });
    expect(events).toEqual(["start a", "start b", "start c", "start d", "middle d"]);
    const expected = serialize({
      a: { dtype: "U8", shape: [1], data: Uint8Array.from([1]) },
      b: { dtype: "U8", shape: [1], data: Uint8Array.from([2]) },
      c: { dtype: "U8", shape: [2], data: Uint8Array.from([3, 3]) },
      d: { dtype: "U8", shape: [3], data: Uint8Array.from([4, 4, 4]) },
      z: f32,
    });
    expect((await readFile(path)).equals(Buffer.from(expected))).toBe(true);
  });

  it("leaves the previous file and no temporary file behind when a tensor has the wrong size", async () => {
    const path = join(folder, "model.safetensors");
    const old = serialize({ w: { dtype: "U8", shape: [2], data: Uint8Array.from([9, 9]) } });
    await writeFile(path, old);
    const attempts = [
      { w: { dtype: "U8" as const, shape: [3], data: Uint8Array.from([1, 2]) } },
      { w: { dtype: "U8" as const, shape: [3], data: () => [Uint8Array.from([1, 2, 3, 4])] } },
      { w: { dtype: "U8" as const, shape: [3], data: () => [Uint8Array.from([1])] } },
    ];
    for (const tensors of attempts) {
      await expect(writeSafetensorsFile(path, tensors)).rejects.toThrow(SafetensorsInvalidTensorError);
      expect((await readFile(path)).equals(Buffer.from(old))).toBe(true);
      expect(await readdir(folder)).toEqual(["model.safetensors"]);
    }
    const failing: LazyTensor = {
      dtype: "U8",
      shape: [1],
      data: () => {
        throw new Error("producer failed");
      },
    };
    await expect(writeSafetensorsFile(path, { w: failing })).rejects.toThrow("producer failed");
    expect(await readdir(folder)).toEqual(["model.safetensors"]);
  });

  it("reports a missing folder as a FileSystemError", async () => {
    await expect(writeSafetensorsFile(join(folder, "no", "such.safetensors"), {})).rejects.toThrow(
      FileSystemError,
    );
  });
});

describe("interrupted streaming write", () => {
  beforeAll(() => {
    // The child process runs the built package; build it if this test runs before `pnpm build`.
    if (!existsSync(join(packageFolder, "dist", "node.js"))) {
      const tsupCli = join(dirname(createRequire(import.meta.url).resolve("tsup")), "cli-default.js");
      execFileSync(process.execPath, [tsupCli], { cwd: packageFolder, stdio: "ignore" });
    }
  }, 180_000);

  it("a writer killed with SIGKILL mid-write leaves the old file intact and readers unconfused", async () => {
    const path = join(folder, "model.safetensors");
    const old = serialize({
      old: { dtype: "F32", shape: [2], data: new Uint8Array(new Float32Array([1, 2]).buffer) },
    });
    await writeFile(path, old);
    const child = spawn(
      process.execPath,
      [join(packageFolder, "test", "support", "interrupted-writer.mjs"), path],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("exit", (_code, signal) => resolve(signal)),
    );
    await new Promise<void>((resolve, reject) => {
      let output = "";
      child.stdout.on("data", (data: Buffer) => {
        output += data.toString();
        if (output.includes("writing")) resolve();
        if (output.includes("finished")) reject(new Error("the child finished before it was killed"));
      });
    });
    const temporaries = (await readdir(folder)).filter((file) => file.endsWith(".tmp"));
    expect(temporaries.length).toBe(1);
    expect((await stat(join(folder, temporaries[0] as string))).size).toBeGreaterThan(0);
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");

    // The old file is untouched; the abandoned temporary is hidden and not a weights file, so readers ignore it.
    expect((await readFile(path)).equals(Buffer.from(old))).toBe(true);
    const reader = await openCheckpoint(folder);
    expect(reader.names).toEqual(["old"]);
    await reader.close();
    const leftovers = (await readdir(folder)).filter((file) => file !== "model.safetensors");
    expect(leftovers.every((file) => file.startsWith(".model.safetensors.") && file.endsWith(".tmp"))).toBe(
      true,
    );

    // The next write of the same file removes the dead writer's temporary.
    await writeSafetensorsFile(path, { fresh: { dtype: "U8", shape: [1], data: Uint8Array.from([5]) } });
    expect(await readdir(folder)).toEqual(["model.safetensors"]);
    expect([...(await readSafetensorsFile(path)).tensors.keys()]).toEqual(["fresh"]);
  });
});

describe("a signal during a streaming write", () => {
  /** Starts the slow writer over an existing file and resolves once it is writing tensor data. */
  async function startWriter(path: string, mode = "") {
    await writeFile(path, oldFile);
    const child = spawn(
      process.execPath,
      [join(packageFolder, "test", "support", "interrupted-writer.mjs"), path, mode],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let output = "";
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>(
      (resolve) => child.on("exit", (code, signal) => resolve({ code, signal, output })),
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (data: Buffer) => {
        output += data.toString();
        if (output.includes("writing")) resolve();
        if (output.includes("finished")) reject(new Error("the child finished before it was signalled"));
      });
    });
    return { child, exited };
  }
  const oldFile = serialize({ old: { dtype: "U8", shape: [1], data: Uint8Array.from([1]) } });

  it.each(["SIGINT", "SIGTERM", "SIGHUP"] as const)(
    "%s removes the temporary file, keeps the old file and still ends the process by that signal",
    async (signal) => {
      const path = join(folder, "model.safetensors");
      const { child, exited } = await startWriter(path);
      expect((await readdir(folder)).filter((file) => file.endsWith(".tmp"))).toHaveLength(1);
      child.kill(signal);
      expect((await exited).signal).toBe(signal);
      expect(await readdir(folder)).toEqual(["model.safetensors"]);
      expect((await readFile(path)).equals(Buffer.from(oldFile))).toBe(true);
    },
  );

  it("leaves the temporary file to an application that handles the signal itself", async () => {
    const path = join(folder, "model.safetensors");
    const { child, exited } = await startWriter(path, "own-listener");
    child.kill("SIGINT");
    const { code, output } = await exited;
    expect(code).toBe(3);
    expect(output).toMatch(/temporaries \["[^"]*\.model\.safetensors\.\d+\.[0-9a-f]{12}\.tmp"\]/);
  });
});

describe("JSON side files", () => {
  it("round-trips a config without losing unknown fields, atomically", async () => {
    const path = join(folder, "adapter_config.json");
    const config = {
      peft_type: "LORA",
      r: 8,
      target_modules: ["q_proj"],
      custom: { nested: [1, null, "x"] },
    };
    await writeJsonFileAtomic(path, config);
    expect(await readFile(path, "utf8")).toBe(`${JSON.stringify(config, null, 2)}\n`);
    const read = await readJsonFile<Record<string, unknown>>(path);
    await writeJsonFileAtomic(path, { ...read, r: 16 });
    expect(await readJsonFile(path)).toEqual({ ...config, r: 16 });
    expect(await readdir(folder)).toEqual(["adapter_config.json"]);
  });

  it("raises typed errors for unreadable, invalid and unserializable JSON", async () => {
    const path = join(folder, "config.json");
    await expect(readJsonFile(path)).rejects.toThrow(FileSystemError);
    await writeFileAtomic(path, "{oops");
    await expect(readJsonFile(path)).rejects.toThrow(/not valid JSON/);
    await expect(writeJsonFileAtomic(path, { big: 1n })).rejects.toThrow(/cannot serialize/);
    await expect(writeJsonFileAtomic(path, undefined)).rejects.toThrow(/cannot serialize/);
    expect(await readFile(path, "utf8")).toBe("{oops");
  });
});
