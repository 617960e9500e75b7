import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadPeftAdapter, savePeftAdapter } from "@peftjs/adapters/node";
import { type RawTensor, serialize, toFloat32 } from "@peftjs/io";
import type { CausalLM } from "@peftjs/models";
import { loadModel } from "@peftjs/models/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeLogitsFile } from "../src/lib/logits-file.js";
import {
  cli,
  expectNoOutput,
  expectUserError,
  fixture,
  maxAbsDifference,
  peftjs,
  peftjsJson,
  tensorsOf,
} from "./helpers.js";

// Hostile and careless invocations of the command line: outputs aliasing inputs, signals during writes,
// NaN adapters, mismatched convert pairs, large inputs, control characters. Each case checks one guarantee
// of the README ("What peftjs guarantees"). Big inputs are made sparse or lazily, never allocated.

const work = mkdtempSync(join(tmpdir(), "peftjs-hostile-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const fresh = (name: string) => mkdtempSync(join(work, `${name}-`));
const embedded = fixture("../../assets/stories260k");
const loraTrained = fixture("peft/lora_default/adapter_trained");
const pissa = (name: string) => fixture(`peft/pissa/${name}`);
const evalBatch = pissa("io.safetensors");
const hash = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const corpus = readFileSync(fixture("../../assets/corpus/pip-the-robot.txt"), "utf8");

/** A copy of the embedded model folder (written by `peftjs embedded`, as the READMEs say). */
let model: string;
/** A small text data file. */
let data: string;
beforeAll(() => {
  model = join(fresh("model"), "stories260k");
  const result = peftjs("embedded", "--out", model);
  expect(result.code, result.stderr).toBe(0);
  data = join(fresh("data"), "stories.txt");
  writeFileSync(data, corpus.split("\n").slice(0, 4).join("\n\n"));
});

const trainArgs = () => [
  "train",
  "--model",
  model,
  "--method",
  "lora",
  "--data",
  data,
  "--steps",
  "2",
  "--lr",
  "1e-3",
  "--batch",
  "1",
  "--seq",
  "8",
  "--backend",
  "js",
];

describe("outputs never alias inputs or each other, and are checked before any work", () => {
  it("refuses --log onto the model's weights, the data file, or a file reached through a link", () => {
    const weights = join(model, "model.safetensors");
    const before = hash(weights);
    const out = join(fresh("alias"), "adapter");
    expectUserError(
      peftjs(...trainArgs(), "--log", weights, "--out", out),
      "train",
      /--log .*model\.safetensors is also an input of this command \(--model\); peftjs never writes onto its inputs/,
    );
    expectUserError(
      peftjs(...trainArgs(), "--log", data, "--out", out),
      "train",
      /--log .*stories\.txt is also an input of this command \(--data\)/,
    );
    const link = join(fresh("link"), "model-link");
    symlinkSync(model, link);
    expectUserError(
      peftjs(...trainArgs(), "--log", join(link, "config.json"), "--out", out),
      "train",
      /is also an input of this command \(--model\)/,
    );
    expect(hash(weights)).toBe(before);
    expectNoOutput(out);
  });

  it("refuses logits --out onto its input, the model's weights, or any existing file", () => {
    const input = join(fresh("logits-alias"), "ids.safetensors");
    writeFileSync(input, readFileSync(evalBatch));
    const before = hash(input);
    expectUserError(
      peftjs("logits", "--model", model, "--input", input, "--out", input),
      "logits",
      /--out .* is also an input of this command \(--input\)/,
    );
    expectUserError(
      peftjs("logits", "--model", model, "--input", input, "--out", join(model, "model.safetensors")),
      "logits",
      /is also an input of this command \(--model\)/,
    );
    const existing = join(fresh("existing"), "logits.safetensors");
    writeFileSync(existing, "precious");
    expectUserError(
      peftjs("logits", "--model", model, "--input", input, "--out", existing),
      "logits",
      /already exists; peftjs never overwrites a file/,
    );
    expect(readFileSync(existing, "utf8")).toBe("precious");
    expect(hash(input)).toBe(before);
  });

  it("refuses two outputs at one path or inside one another (init --out X --residual-out X)", () => {
    const folder = fresh("two-outputs");
    const args = ["init", "--model", "embedded", "--method", "pissa", "--r", "2", "--backend", "js"];
    expectUserError(
      peftjs(...args, "--out", join(folder, "x"), "--residual-out", join(folder, "x")),
      "init",
      /--out and --residual-out are the same path/,
    );
    expectUserError(
      peftjs(...args, "--out", join(folder, "x"), "--residual-out", join(folder, "x", "residual")),
      "init",
      /are inside one another/,
    );
    expect(readdirSync(folder)).toEqual([]);
  });

  it("checks every output before training: an unusable --out or --log fails at once, naming the flag", () => {
    const folder = fresh("unusable");
    writeFileSync(join(folder, "a-file"), "");
    const long = [...trainArgs().slice(0, -2), "--steps", "300", "--backend", "js"];
    const result = peftjs(...long, "--out", join(folder, "a-file", "adapter"));
    expectUserError(result, "train", /--out .* cannot be created: .*a-file is a file, not a folder/);
    expect(result.stdout).toBe("");
    expectUserError(
      peftjs(...long, "--log", join(folder, "a-file", "log.json"), "--out", join(folder, "adapter")),
      "train",
      /--log .* cannot be created/,
    );
    expectUserError(
      peftjs(
        "init",
        "--model",
        "embedded",
        "--method",
        "pissa",
        "--out",
        join(folder, "init"),
        "--residual-out",
        join(folder, "a-file", "residual"),
      ),
      "init",
      /--residual-out .* cannot be created/,
    );
    expect(readdirSync(folder)).toEqual(["a-file"]);
  });

  it("refuses an output that is a link, even to an empty folder", () => {
    const folder = fresh("out-link");
    mkdirSync(join(folder, "empty"));
    symlinkSync(join(folder, "empty"), join(folder, "link"));
    expectUserError(
      peftjs("embedded", "--out", join(folder, "link")),
      "embedded",
      /already exists and is not a folder \(it is a link\)/,
    );
    expect(readdirSync(join(folder, "empty"))).toEqual([]);
  });
});

describe("demo --out", () => {
  it("refuses the current folder and a folder it did not write, deleting nothing", () => {
    const folder = fresh("demo-cwd");
    writeFileSync(join(folder, "thesis.tex"), "years of work");
    const result = peftjs("demo", "--out", ".", "--steps", "1", "--backend", "js");
    expectUserError(result, "demo", /--out \. already exists and is not empty/);
    const inCwd = spawnIn(folder, ["demo", "--out", ".", "--steps", "1", "--backend", "js"]);
    expect(inCwd.code).toBe(1);
    expect(readdirSync(folder)).toEqual(["thesis.tex"]);
    expectUserError(peftjs("demo", "--out", folder, "--steps", "1", "--backend", "js"), "demo", /not empty/);
    expect(readFileSync(join(folder, "thesis.tex"), "utf8")).toBe("years of work");
  });

  it("replaces its own earlier output, and nothing else: one added or changed file and it refuses", () => {
    const out = join(fresh("demo-rerun"), "output");
    const args = ["demo", "--out", out, "--steps", "1", "--backend", "wasm"];
    expect(peftjs(...args).code).toBe(0);
    const first = readFileSync(join(out, "summary.json"), "utf8");
    const again = peftjs(...args);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, "summary.json"), "utf8")).outputs).toEqual(
      JSON.parse(first).outputs,
    );
    writeFileSync(join(out, "notes.txt"), "mine");
    expectUserError(peftjs(...args), "demo", /already exists and is not empty/);
    expect(readFileSync(join(out, "notes.txt"), "utf8")).toBe("mine");
    rmSync(join(out, "notes.txt"));
    writeFileSync(join(out, "losses.json"), "edited");
    expectUserError(peftjs(...args), "demo", /already exists and is not empty/);
    expect(readFileSync(join(out, "losses.json"), "utf8")).toBe("edited");
  }, 120_000);
});

/** Runs the built CLI in `cwd` (synchronously). */
function spawnIn(cwd: string, args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("signals during a write", () => {
  /** An input_ids file of `rows` × 512 tokens: logits streams one row at a time, long enough to interrupt. */
  function longInput(rows: number): string {
    const ids = new BigInt64Array(rows * 512);
    for (let index = 0; index < ids.length; index++) ids[index] = BigInt(1 + ((index * 7919) % 511));
    const path = join(fresh("long-input"), "ids.safetensors");
    writeFileSync(
      path,
      serialize({ input_ids: { dtype: "I64", shape: [rows, 512], data: new Uint8Array(ids.buffer) } }),
    );
    return path;
  }

  it.each(["SIGINT", "SIGTERM", "SIGHUP"] as const)(
    "%s during logits' write removes the temporary folder and leaves no output",
    async (signal) => {
      const input = longInput(24);
      const folder = fresh(`signal-${signal}`);
      const out = join(folder, "logits.safetensors");
      const child = spawn(process.execPath, [
        cli,
        "logits",
        "--model",
        "embedded",
        "--input",
        input,
        "--out",
        out,
      ]);
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.on("exit", (_code, how) => resolve(how)),
      );
      // The temporary folder appears when the write starts; rows are then computed while it is written.
      for (let tries = 0; tries < 3000 && readdirSync(folder).length === 0; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const temporaries = readdirSync(folder);
      expect(temporaries).toHaveLength(1);
      expect(temporaries[0]).toMatch(/^\.logits\.safetensors\.peftjs-\d+-[0-9a-f]{8}$/);
      child.kill(signal);
      expect(await exited).toBe(signal);
      expect(readdirSync(folder)).toEqual([]);
    },
    60_000,
  );

  it("sweeps the temporary folders of dead peftjs processes, and only those", () => {
    const folder = fresh("sweep");
    const dead = join(folder, ".adapter.peftjs-999999999-deadbeef");
    const alive = join(folder, `.adapter.peftjs-${process.pid}-0badf00d`);
    const foreign = join(folder, ".adapter.other-999999999-deadbeef");
    for (const path of [dead, alive, foreign]) {
      mkdirSync(path);
      writeFileSync(join(path, "partial"), "x");
    }
    expect(peftjs("embedded", "--out", join(folder, "adapter")).code).toBe(0);
    expect(readdirSync(folder).sort()).toEqual(
      [".adapter.other-999999999-deadbeef", `.adapter.peftjs-${process.pid}-0badf00d`, "adapter"].sort(),
    );
  });
});

describe("non-finite numbers never pass", () => {
  /** lora_default's trained adapter with one lora_B value replaced. */
  async function poisonedAdapter(value: number): Promise<string> {
    const adapter = await loadPeftAdapter(loraTrained);
    const name = "model.layers.2.self_attn.v_proj";
    const modules = new Map(adapter.modules);
    const factors = modules.get(name)!;
    const data = Float32Array.from(factors.loraB.data);
    data[3] = value;
    modules.set(name, { ...factors, loraB: { ...factors.loraB, data } });
    const folder = join(fresh("poisoned"), "adapter");
    await savePeftAdapter(folder, { ...adapter, modules });
    return folder;
  }

  it("refuses an adapter holding NaN or Infinity in verify, logits and merge, naming the tensor", async () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const adapter = await poisonedAdapter(value);
      const tensor =
        /AdapterNonFiniteError: "base_model\.model\.model\.layers\.2\.self_attn\.v_proj\.lora_B\.weight" holds (NaN|Infinity) at index 3/;
      expectUserError(peftjs("verify", "--model", "embedded", "--adapter", adapter), "verify", tensor);
      const out = join(fresh("nan-out"), "x");
      expectUserError(
        peftjs("logits", "--model", "embedded", "--adapter", adapter, "--input", evalBatch, "--out", out),
        "logits",
        tensor,
      );
      expectUserError(
        peftjs("merge", "--model", "embedded", "--adapter", adapter, "--out", out),
        "merge",
        tensor,
      );
      expectNoOutput(out);
    }
  });

  it("stops training that diverges (lr 1e30) with exit 1, the last finite step, and nothing written", () => {
    const folder = fresh("diverge");
    const result = peftjs(
      ...trainArgs().slice(0, -4),
      "--steps",
      "6",
      "--lr",
      "1e30",
      "--log",
      join(folder, "log.json"),
      "--out",
      join(folder, "adapter"),
    );
    expectUserError(
      result,
      "train",
      /TrainingDivergedError: training diverged at step \d+: .*the last finite step was \d+/,
    );
    expect(readdirSync(folder)).toEqual([]);
  });

  it("refuses a merge whose values overflow --dtype f16 instead of writing infinity", async () => {
    const adapter = await loadPeftAdapter(loraTrained);
    const modules = new Map(adapter.modules);
    for (const [name, factors] of modules) {
      modules.set(name, {
        ...factors,
        loraB: { ...factors.loraB, data: factors.loraB.data.map(() => 1e5) },
      });
    }
    const folder = fresh("overflow");
    await savePeftAdapter(join(folder, "big"), { ...adapter, modules });
    const out = join(folder, "merged");
    expectUserError(
      peftjs(
        "merge",
        "--model",
        "embedded",
        "--adapter",
        join(folder, "big"),
        "--dtype",
        "f16",
        "--out",
        out,
      ),
      "merge",
      /ModelCastError: tensor "model\.layers\.\d\.self_attn\.[qv]_proj\.weight" cannot be stored as F16: value -?\d+(\.\d+)? at index \d+ is beyond the range of F16.*use --dtype bf16 or f32/,
    );
    expectNoOutput(out);
    expect(
      peftjs(
        "merge",
        "--model",
        "embedded",
        "--adapter",
        join(folder, "big"),
        "--dtype",
        "bf16",
        "--out",
        out,
      ).code,
    ).toBe(0);
  });
});

describe("initial/trained pairs that cannot belong together", () => {
  it("refuses convert with the same folder twice, or an OLoRA init for a PiSSA adapter", () => {
    const out = join(fresh("convert"), "converted");
    expectUserError(
      peftjs(
        "convert",
        "--initial",
        pissa("adapter_trained"),
        "--trained",
        pissa("adapter_trained"),
        "--out",
        out,
      ),
      "convert",
      /--initial and --trained are the same folder/,
    );
    const copy = join(fresh("copy"), "adapter");
    mkdirSync(copy);
    for (const file of ["adapter_config.json", "adapter_model.safetensors"]) {
      writeFileSync(join(copy, file), readFileSync(join(pissa("adapter_trained"), file)));
    }
    expectUserError(
      peftjs("convert", "--initial", copy, "--trained", pissa("adapter_trained"), "--out", out),
      "convert",
      /has exactly the factors of --initial/,
    );
    expectUserError(
      peftjs(
        "convert",
        "--initial",
        fixture("peft/olora/adapter_init"),
        "--trained",
        pissa("adapter_trained"),
        "--out",
        out,
      ),
      "convert",
      /AdapterConversionError: module ".*": lora_A row \d+ of the trained adapter points away from the initial adapter's \(cosine -0\.\d+/,
    );
    expectNoOutput(out);
  });

  it("refuses train --initial with a mismatched init adapter", () => {
    const out = join(fresh("train-initial"), "adapter");
    expectUserError(
      peftjs(
        "train",
        "--model",
        "embedded",
        "--adapter",
        pissa("adapter_trained"),
        "--initial",
        fixture("peft/olora/adapter_init"),
        "--data",
        evalBatch,
        "--steps",
        "1",
        "--lr",
        "1e-3",
        "--out",
        out,
        "--backend",
        "js",
      ),
      "train",
      /points away from the initial adapter's/,
    );
    expectNoOutput(out);
  });
});

describe("large but legal input", () => {
  it("refuses init --r 1000000000 with the limit, not an internal error", () => {
    const out = join(fresh("rank"), "adapter");
    expectUserError(
      peftjs("init", "--model", "embedded", "--method", "lora", "--r", "1000000000", "--out", out),
      "init",
      /--r 1000000000 exceeds the largest meaningful rank of ".*", min\(in \d+, out \d+\) = \d+/,
    );
    expectNoOutput(out);
  });

  it("trains on a 629 MB text file, reading only what the steps need; a 600 MB line is refused by its limit", () => {
    const path = join(fresh("huge"), "huge.txt");
    writeFileSync(path, `${corpus}\n\n`);
    truncateSync(path, 629 * 2 ** 20); // sparse: the rest reads as NUL bytes, one line of 628 MB
    const folder = fresh("huge-out");
    const log = peftjsJson<{ batches: number }>(
      ...trainArgs().map((arg) => (arg === data ? path : arg)),
      "--out",
      join(folder, "adapter"),
    );
    expect(log.batches).toBe(2);
    expectUserError(
      peftjs(
        ...trainArgs().map((arg) => (arg === data ? path : arg === "2" ? "200000" : arg)),
        "--out",
        join(folder, "more"),
      ),
      "train",
      /line \d+ is longer than 1,000,000 characters, the most peftjs reads as one document/,
    );
  }, 60_000);

  it("inspects a file of 140,000 tensors (Math.max(...names) overflowed the stack at 130 k)", () => {
    const header: Record<string, unknown> = {};
    for (let index = 0; index < 140_000; index++) {
      header[`t${index}`] = { dtype: "F32", shape: [0], data_offsets: [0, 0] };
    }
    const json = Buffer.from(JSON.stringify(header));
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length));
    const path = join(fresh("many"), "many.safetensors");
    writeFileSync(path, Buffer.concat([prefix, json]));
    const result = peftjs("inspect", path);
    expect(result.code, result.stderr.slice(0, 300)).toBe(0);
    expect(result.stdout).toContain("(safetensors, 140000 tensors)");
  });

  it("computes logits a few rows at a time, the same as one forward pass", async () => {
    const { tensors } = { tensors: await tensorsOf(evalBatch) };
    const ids = tensors.get("input_ids")!;
    const rows = Array.from(new BigInt64Array(ids.data.slice().buffer), Number);
    const batch = Array.from({ length: 70 }, (_, row) => rows.slice((row % 2) * 16, (row % 2) * 16 + 16));
    const loaded: CausalLM = await loadModel(embedded);
    const chunkSizes: number[] = [];
    const spy = new Proxy(loaded, {
      get(target, property, receiver) {
        if (property === "forward") {
          return (input: number[][]) => {
            chunkSizes.push(input.length);
            return target.forward(input);
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    const path = join(fresh("chunks"), "logits.safetensors");
    await writeLogitsFile(path, spy, batch);
    expect(chunkSizes).toEqual([32, 32, 6]); // 512 tokens per pass: 32 rows of 16
    const written = (await tensorsOf(path)).get("logits")!;
    const reference = tensors.get("base_original")!;
    const values = toFloat32(written);
    const expected = toFloat32(reference);
    const perRow = 16 * 512;
    let worst = 0;
    for (let row = 0; row < 70; row++) {
      const slice: RawTensor = {
        dtype: "F32",
        shape: [perRow],
        data: new Uint8Array(values.buffer, row * perRow * 4, perRow * 4),
      };
      const target: RawTensor = {
        dtype: "F32",
        shape: [perRow],
        data: new Uint8Array(expected.buffer, (row % 2) * perRow * 4, perRow * 4),
      };
      worst = Math.max(worst, maxAbsDifference(slice, target));
    }
    // PEFT's logits for the same rows; 1e-3 as the other logits tests (float32, another implementation).
    expect(worst).toBeLessThan(1e-3);
  });
});

describe("output hygiene", () => {
  it("escapes control characters from files in everything it prints, error messages included", () => {
    const forged = "w\u001b[2J\r\nfingerprint fp1:forged\u009b31m\u202e";
    const path = join(fresh("escape"), "evil.safetensors");
    writeFileSync(
      path,
      serialize(
        { [forged]: { dtype: "U8", shape: [1], data: Uint8Array.of(1) } },
        { note: "a\u0007\rb\nfake line" },
      ),
    );
    const text = peftjs("inspect", path);
    expect(text.code).toBe(0);
    for (const raw of ["\u001b", "\r", "\u0007", "\u009b", "\u202e"]) expect(text.stdout).not.toContain(raw);
    expect(text.stdout.split("\n").some((line) => line.startsWith("fingerprint fp1:forged"))).toBe(false);
    expect(text.stdout).toContain("w\\u001b[2J\\r\\nfingerprint fp1:forged\\u009b31m\\u202e");
    const json = peftjs("inspect", path, "--json");
    expect(JSON.parse(json.stdout).tensors[0].name).toBe(forged);
    const missing = peftjs("inspect", join(work, "no\u001b[2Jsuch\nfile"));
    expectUserError(missing, "inspect", /no\\u001b\[2Jsuch\\nfile does not exist/);
  });

  it("exits quietly when its output pipe is closed", async () => {
    const child = spawn(
      process.execPath,
      [cli, "verify", "--model", "embedded", "--adapter", loraTrained, "--backend", "js"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });

  it("refuses extra positional arguments", () => {
    expectUserError(
      peftjs("inspect", embedded, "extra"),
      "inspect",
      /unexpected argument "extra": inspect takes 1 path/,
    );
    expectUserError(
      peftjs("verify", "stray", "--model", "embedded"),
      "verify",
      /unexpected argument "stray": verify takes only flags/,
    );
  });

  it("reads --adapter as [NAME=]DIR[:WEIGHT]: a weight only when it is a number, folders with ':' as they are", async () => {
    const folder = fresh("colon");
    const colonDir = join(folder, "run:v2");
    await savePeftAdapter(colonDir, await loadPeftAdapter(loraTrained));
    const out = (name: string) => join(folder, name);
    expect(
      peftjs(
        "logits",
        "--model",
        "embedded",
        "--adapter",
        colonDir,
        "--input",
        evalBatch,
        "--out",
        out("a.safetensors"),
      ).code,
    ).toBe(0);
    expect(
      peftjs(
        "logits",
        "--model",
        "embedded",
        "--adapter",
        `mine=${colonDir}:0`,
        "--input",
        evalBatch,
        "--out",
        out("b.safetensors"),
      ).code,
    ).toBe(0);
    const base = peftjs("logits", "--model", "embedded", "--input", evalBatch, "--out", out("c.safetensors"));
    expect(base.code).toBe(0);
    // weight 0 gives the base model back exactly
    expect(readFileSync(out("b.safetensors"))).toEqual(readFileSync(out("c.safetensors")));
    expectUserError(
      peftjs(
        "logits",
        "--model",
        "embedded",
        "--adapter",
        `${loraTrained}:abc`,
        "--input",
        evalBatch,
        "--out",
        out("d.safetensors"),
      ),
      "logits",
      /--adapter .*adapter_trained:abc does not exist/,
    );
    expectUserError(
      peftjs(
        "merge",
        "--model",
        "embedded",
        "--adapter",
        `a=${loraTrained}`,
        "--adapter",
        `a=${colonDir}`,
        "--out",
        out("m"),
      ),
      "merge",
      /are both named "a"/,
    );
  });

  it("creates logits --out's parent folders, as folder outputs", () => {
    const out = join(fresh("parents"), "deep", "er", "logits.safetensors");
    expect(
      peftjs("logits", "--model", "embedded", "--input", evalBatch, "--out", out, "--backend", "js").code,
    ).toBe(0);
    expect(existsSync(out)).toBe(true);
  });

  it("prints JSON on failure with verify --json", () => {
    const result = peftjs(
      "verify",
      "--model",
      pissa("residual"),
      "--adapter",
      pissa("adapter_trained"),
      "--json",
    );
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({
      ok: false,
      error: { name: "AdapterLoadError", code: "adapter_load" },
    });
    expect(report.error.message).toMatch(/this base looks like a PiSSA residual/);
  });

  it("verify refuses what the loader refuses (fan_in_fan_out on Linear layers)", () => {
    const folder = join(fresh("fan"), "adapter");
    mkdirSync(folder);
    const config = JSON.parse(readFileSync(join(loraTrained, "adapter_config.json"), "utf8"));
    writeFileSync(join(folder, "adapter_config.json"), JSON.stringify({ ...config, fan_in_fan_out: true }));
    writeFileSync(
      join(folder, "adapter_model.safetensors"),
      readFileSync(join(loraTrained, "adapter_model.safetensors")),
    );
    expectUserError(peftjs("verify", "--model", "embedded", "--adapter", folder), "verify", /fan_in_fan_out/);
  });

  it("inspects the embedded model by name", () => {
    const report = peftjsJson<{ fingerprint: string }>("inspect", "embedded");
    expect(report.fingerprint).toBe("fp1:7438212e98c9a5a22ef17b946af3130a");
  });
});
