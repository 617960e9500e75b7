/**
 * The command line on a Hugging Face model folder with a tokenizer.json (test/fixtures/hf_mistral: the tiny
 * Mistral that transformers 5.18 wrote, with the sp_bpe tokenizer; see the fixtures README), by folder and by
 * Hub id through a local Hub (`startLocalHub`), against the reference data:
 *
 * - `logits` equal transformers' reference logits, and PEFT's with PEFT's trained adapter (1e-4 absolute:
 *   the fixture README's independent fp64 forward agrees to 2.3e-6 and suggests 1e-4 for an fp32 port);
 * - `train` from PEFT's adapter_init on the reference ids reproduces PEFT's per-step losses (1e-4 relative,
 *   the issue's bar; PEFT's own fp64 replay differs by 9.5e-7);
 * - `train --data` text is tokenized as Python's `tokenizers` does (the cases' ids_special): the same losses,
 *   exactly, as training on those ids;
 * - `generate` / `chat` continue greedily (each new id is the argmax of the full forward without cache),
 *   through the chat template, and stop at generation_config.json's EOS ids;
 * - Hub ids download once into the Hugging Face cache: a second run makes no GET request, offline none at all.
 */
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RawTensor, toFloat32 } from "@peftjs/io";
import { readSafetensorsFile, writeSafetensorsFile } from "@peftjs/io/node";
import { type LocalHub, startLocalHub } from "@peftjs/models/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const fixtures = fileURLToPath(new URL("./fixtures/hf_mistral/", import.meta.url));
const modelFolder = join(fixtures, "model");
const adapterInit = join(fixtures, "peft_lora/adapter_init");
const adapterTrained = join(fixtures, "peft_lora/adapter_trained");
const referenceFile = join(fixtures, "reference.safetensors");
const temporary = mkdtempSync(join(tmpdir(), "peftjs-hf-model-"));
const training = JSON.parse(readFileSync(join(fixtures, "peft_lora/training.json"), "utf8")) as {
  losses: number[];
};
const tokenizerCases = JSON.parse(readFileSync(join(fixtures, "sp_bpe_cases.json"), "utf8")).cases as {
  name: string;
  text: string;
  ids_special: number[];
}[];
/** Logits tolerance (see the module comment). */
const LOGITS_TOLERANCE = 1e-4;

let hub: LocalHub;
let outputs = 0;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A path for a command's output that does not exist yet. */
function output(name: string): string {
  return join(temporary, `out-${++outputs}-${name}`);
}

/**
 * Runs the CLI with the Hub settings pointing at the local Hub and the cache `cache`. Asynchronous: the local
 * Hub answers from this process, which a synchronous spawn would block.
 */
function run(args: string[], environment: Record<string, string | undefined> = {}): Promise<RunResult> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    NO_COLOR: "1",
    PEFTJS_DEBUG: "",
    HF_ENDPOINT: hub.url,
    HF_HUB_CACHE: join(temporary, "default-cache"),
    HF_TOKEN_PATH: join(temporary, "no-token"),
    HF_TOKEN: "",
    HF_HUB_OFFLINE: "",
    ...environment,
  };
  // A variable given as undefined is removed (e.g. HF_HUB_CACHE, to let HF_HOME decide).
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  const child = spawn(process.execPath, [cli, ...args], { env });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function runJson<T = Record<string, unknown>>(
  args: string[],
  environment: Record<string, string | undefined> = {},
): Promise<T> {
  const result = await run([...args, "--json"], environment);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

function expectUserError(result: RunResult, command: string, pattern: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^peftjs ${command}: \\w+Error: `));
  expect(lines[0]).toMatch(pattern);
}

async function tensor(path: string, name: string): Promise<RawTensor> {
  const found = (await readSafetensorsFile(path)).tensors.get(name);
  if (found === undefined) throw new Error(`${path} has no ${name}`);
  return found;
}

function maxAbsDifference(a: RawTensor, b: RawTensor): number {
  expect(a.shape).toEqual(b.shape);
  const left = toFloat32(a);
  const right = toFloat32(b);
  let max = 0;
  for (let index = 0; index < left.length; index++) {
    max = Math.max(max, Math.abs(left[index]! - right[index]!));
  }
  return max;
}

/** Writes `input_ids` int64 [rows, length] to a new safetensors file. */
async function writeIds(rows: number[][]): Promise<string> {
  const path = output("ids.safetensors");
  const flat = BigInt64Array.from(rows.flat(), (id) => BigInt(id));
  await writeSafetensorsFile(
    path,
    new Map([
      [
        "input_ids",
        { dtype: "I64", shape: [rows.length, rows[0]!.length], data: new Uint8Array(flat.buffer) },
      ],
    ]),
  );
  return path;
}

/** The logits of one row of ids, through `peftjs logits`. */
async function logitsOf(model: string, ids: number[]): Promise<{ values: Float32Array; vocab: number }> {
  const out = output("logits.safetensors");
  await runJson([
    "logits",
    "--model",
    model,
    "--input",
    await writeIds([ids]),
    "--out",
    out,
    "--backend",
    "js",
  ]);
  const logits = await tensor(out, "logits");
  return { values: toFloat32(logits), vocab: logits.shape[2]! };
}

/** Asserts that each of `tokens` is the argmax of the full forward over the ids before it. */
async function expectGreedy(model: string, promptIds: number[], tokens: number[]): Promise<void> {
  const { values, vocab } = await logitsOf(model, [...promptIds, ...tokens]);
  tokens.forEach((token, index) => {
    const row = values.subarray((promptIds.length - 1 + index) * vocab, (promptIds.length + index) * vocab);
    let best = 0;
    for (let id = 1; id < vocab; id++) if (row[id]! > row[best]!) best = id;
    expect(token, `token ${index}`).toBe(best);
  });
}

beforeAll(async () => {
  const repositories = join(temporary, "hub");
  cpSync(modelFolder, join(repositories, "test-org/tiny-mistral"), { recursive: true });
  cpSync(adapterTrained, join(repositories, "test-org/tiny-mistral-lora"), { recursive: true });
  cpSync(modelFolder, join(repositories, "test-org/private-mistral"), { recursive: true });
  const pickled = join(repositories, "test-org/pickled-lora");
  mkdirSync(pickled, { recursive: true });
  cpSync(join(adapterTrained, "adapter_config.json"), join(pickled, "adapter_config.json"));
  writeFileSync(join(pickled, "adapter_model.bin"), "not read");
  hub = await startLocalHub(repositories, {
    privateRepositories: { "test-org/private-mistral": "hf_secret" },
  });
});

afterAll(async () => {
  await hub.close();
  rmSync(temporary, { recursive: true, force: true });
});

describe("the command line on a Hugging Face model folder (Mistral + tokenizer.json)", () => {
  it("logits: transformers' reference logits, and PEFT's with PEFT's trained adapter", async () => {
    const out = output("logits.safetensors");
    await runJson([
      "logits",
      "--model",
      modelFolder,
      "--input",
      referenceFile,
      "--out",
      out,
      "--backend",
      "js",
    ]);
    expect(maxAbsDifference(await tensor(out, "logits"), await tensor(referenceFile, "logits"))).toBeLessThan(
      LOGITS_TOLERANCE,
    );
    const peftLogits = join(fixtures, "peft_lora/logits.safetensors");
    const adapted = output("logits.safetensors");
    await runJson([
      "logits",
      "--model",
      modelFolder,
      "--adapter",
      adapterTrained,
      "--input",
      peftLogits,
      "--out",
      adapted,
      "--backend",
      "js",
    ]);
    expect(
      maxAbsDifference(await tensor(adapted, "logits"), await tensor(peftLogits, "trained")),
    ).toBeLessThan(LOGITS_TOLERANCE);
  });

  it("train: from PEFT's adapter_init on the reference ids, PEFT's losses step by step", async () => {
    const log = await runJson<{ losses: number[] }>([
      "train",
      "--model",
      modelFolder,
      "--adapter",
      adapterInit,
      "--data",
      referenceFile,
      "--steps",
      "5",
      "--lr",
      "1e-2",
      "--eps",
      "1e-6",
      "--out",
      output("adapter"),
      "--backend",
      "js",
    ]);
    expect(log.losses).toHaveLength(training.losses.length);
    log.losses.forEach((loss, step) => {
      expect(Math.abs(loss - training.losses[step]!) / training.losses[step]!, `step ${step}`).toBeLessThan(
        1e-4,
      );
    });
  });

  it("train --data: text tokenized as Python's tokenizers (BOS per document), the same losses as those ids", async () => {
    const jsonl = join(temporary, "documents.jsonl");
    writeFileSync(jsonl, `${tokenizerCases.map(({ text }) => JSON.stringify({ text })).join("\n")}\n`);
    // 4 × 32 = 128 tokens per batch; the documents give 228, so one batch, cycled.
    const stream = tokenizerCases.flatMap((entry) => entry.ids_special).slice(0, 128);
    const rows = Array.from({ length: 4 }, (_, row) => stream.slice(row * 32, (row + 1) * 32));
    const common = [
      "--model",
      modelFolder,
      "--method",
      "gaussian",
      "--target",
      "q_proj,v_proj",
      "--seed",
      "3",
    ];
    const settings = ["--steps", "3", "--lr", "1e-2", "--backend", "js"];
    const fromText = await runJson<{ losses: number[]; batches: number; batchShape: number[] }>([
      "train",
      ...common,
      "--data",
      jsonl,
      "--batch",
      "4",
      "--seq",
      "32",
      ...settings,
      "--out",
      output("adapter"),
    ]);
    expect(fromText.batches).toBe(1);
    expect(fromText.batchShape).toEqual([4, 32]);
    const fromIds = await runJson<{ losses: number[] }>([
      "train",
      ...common,
      "--data",
      await writeIds(rows),
      ...settings,
      "--out",
      output("adapter"),
    ]);
    expect(fromText.losses).toEqual(fromIds.losses);
    expect(fromText.losses[2]!).toBeLessThan(fromText.losses[0]!);
  });

  it("train --data refuses text whose ids fall outside the model's vocabulary, before training", async () => {
    const text = join(temporary, "outside.txt");
    writeFileSync(text, "The weather is nice today.\n");
    const out = output("adapter");
    expectUserError(
      await run([
        "train",
        "--model",
        modelFolder,
        "--method",
        "lora",
        "--data",
        text,
        "--steps",
        "1",
        "--lr",
        "1e-3",
        "--out",
        out,
      ]),
      "train",
      /TokenIdError: --data \S+outside.txt: document 1: token \d+ is id \d{4} \(".*"\), outside the model's vocabulary of 1024/,
    );
  });

  it("generate: the prompt tokenized as Python's tokenizers, continued greedily", async () => {
    const prompt = tokenizerCases.find((entry) => entry.name === "long_word")!;
    const tokenized = await runJson<{ ids: number[] }>([
      "tokenize",
      "--model",
      modelFolder,
      "--text",
      prompt.text,
    ]);
    expect(tokenized.ids).toEqual(prompt.ids_special);
    const report = await runJson<{ tokens: number[]; text: string }>([
      "generate",
      "--model",
      modelFolder,
      "--prompt",
      prompt.text,
      "--steps",
      "12",
      "--backend",
      "js",
    ]);
    expect(report.tokens.length).toBeGreaterThan(0);
    await expectGreedy(modelFolder, prompt.ids_special, report.tokens);
  });

  it("generate --chat / --messages and chat: the chat template's prompt, the same greedy reply", async () => {
    const rendered = "<s><|user|>\nhello\n<|assistant|>\n";
    const generated = await runJson<{ prompt: string; text: string; tokens: number[] }>([
      "generate",
      "--model",
      modelFolder,
      "--chat",
      "--prompt",
      "hello",
      "--steps",
      "8",
      "--backend",
      "js",
    ]);
    expect(generated.prompt).toBe(rendered);
    const messages = join(temporary, "messages.json");
    writeFileSync(messages, JSON.stringify([{ role: "user", content: "hello" }]));
    const fromFile = await runJson<{ prompt: string; tokens: number[] }>([
      "generate",
      "--model",
      modelFolder,
      "--messages",
      messages,
      "--steps",
      "8",
      "--backend",
      "js",
    ]);
    expect(fromFile).toMatchObject({ prompt: rendered, tokens: generated.tokens });
    const chat = await runJson<{ reply: string; tokens: number[]; messages: unknown[]; stopped: boolean }>([
      "chat",
      "--model",
      modelFolder,
      "--message",
      "hello",
      "--steps",
      "8",
      "--backend",
      "js",
    ]);
    expect(chat).toEqual({
      messages: [
        { role: "user", content: "hello" },
        { role: "assistant", content: generated.text },
      ],
      reply: generated.text,
      tokens: generated.tokens,
      stopped: false,
    });
    const promptIds = await runJson<{ ids: number[] }>([
      "tokenize",
      "--model",
      modelFolder,
      "--chat",
      messages,
      "--generation-prompt",
    ]);
    expect(promptIds.ids[0]).toBe(1); // the template writes <s>, which is BOS
    await expectGreedy(modelFolder, promptIds.ids, generated.tokens);
    // Streamed (no --json): the same reply on stdout.
    const streamed = await run([
      "chat",
      "--model",
      modelFolder,
      "--message",
      "hello",
      "--steps",
      "8",
      "--backend",
      "js",
    ]);
    expect(streamed.code, streamed.stderr).toBe(0);
    expect(streamed.stdout).toBe(`${generated.text}\n`);
  });

  it("chat stops at generation_config.json's EOS ids", async () => {
    const first = await runJson<{ tokens: number[] }>([
      "chat",
      "--model",
      modelFolder,
      "--message",
      "hello",
      "--steps",
      "4",
      "--backend",
      "js",
    ]);
    const folder = join(temporary, "eos-model");
    cpSync(modelFolder, folder, { recursive: true });
    writeFileSync(
      join(folder, "generation_config.json"),
      JSON.stringify({ bos_token_id: 1, eos_token_id: [2, first.tokens[1]] }),
    );
    const stopped = await runJson<{ tokens: number[]; stopped: boolean }>([
      "chat",
      "--model",
      folder,
      "--message",
      "hello",
      "--steps",
      "4",
      "--backend",
      "js",
    ]);
    expect(stopped).toMatchObject({ tokens: first.tokens.slice(0, 2), stopped: true });
  });

  it("chat and generate refuse what they cannot do, with one typed line", async () => {
    expectUserError(
      await run(["chat", "--model", modelFolder], {}),
      "chat",
      /the interactive chat needs a terminal; give --message TEXT or --messages FILE.json/,
    );
    expectUserError(
      await run(["chat", "--model", "embedded", "--message", "hi"]),
      "chat",
      /llama2.c\) has no chat template/,
    );
    expectUserError(
      await run(["generate", "--model", modelFolder, "--chat"]),
      "generate",
      /--chat needs --prompt TEXT/,
    );
    const tool = join(temporary, "tool.json");
    writeFileSync(tool, JSON.stringify([{ role: "tool", content: "42" }]));
    expectUserError(
      await run(["chat", "--model", modelFolder, "--messages", tool]),
      "chat",
      /ChatTemplateRenderError: .*Unknown role: tool/,
    );
  });
});

describe("the same commands by Hub id, through the Hugging Face cache", () => {
  it("downloads once: logits, generate, train and tokenize a second time make no GET request; offline none", async () => {
    const environment = { HF_HUB_CACHE: join(temporary, "cache-reuse") };
    const peftLogits = join(fixtures, "peft_lora/logits.safetensors");
    const commands = (): string[][] => [
      [
        "logits",
        "--model",
        "test-org/tiny-mistral",
        "--adapter",
        "test-org/tiny-mistral-lora",
        "--input",
        peftLogits,
        "--out",
        output("logits.safetensors"),
        "--backend",
        "js",
      ],
      [
        "generate",
        "--model",
        "test-org/tiny-mistral",
        "--chat",
        "--prompt",
        "hello",
        "--steps",
        "6",
        "--backend",
        "js",
      ],
      [
        "train",
        "--model",
        "test-org/tiny-mistral",
        "--adapter",
        "test-org/tiny-mistral-lora",
        "--data",
        referenceFile,
        "--steps",
        "1",
        "--lr",
        "1e-3",
        "--out",
        output("adapter"),
        "--backend",
        "js",
      ],
      ["tokenize", "--model", "test-org/tiny-mistral", "--text", tokenizerCases[0]!.text],
    ];
    const gets = () => hub.requests.filter((request) => request.method === "GET").length;
    const firstReports: unknown[] = [];
    for (const args of commands()) firstReports.push(await runJson(args, environment));
    expect(gets()).toBeGreaterThan(0);
    // By id, the same numbers as by folder: PEFT's trained logits.
    const first = firstReports[0] as { out: string };
    expect(
      maxAbsDifference(await tensor(first.out, "logits"), await tensor(peftLogits, "trained")),
    ).toBeLessThan(LOGITS_TOLERANCE);
    expect((firstReports[3] as { ids: number[] }).ids).toEqual(tokenizerCases[0]!.ids_special);
    const before = gets();
    const secondReports: unknown[] = [];
    for (const args of commands()) secondReports.push(await runJson(args, environment));
    expect(gets()).toBe(before);
    expect(secondReports[1]).toEqual(firstReports[1]);
    expect((secondReports[2] as { losses: number[] }).losses).toEqual(
      (firstReports[2] as { losses: number[] }).losses,
    );
    expect(secondReports[3]).toEqual(firstReports[3]);
    // Offline, by the environment or by --offline: not a single request.
    const requests = hub.requests.length;
    const offline = await runJson(commands()[1]!, { ...environment, HF_HUB_OFFLINE: "1" });
    expect(offline).toEqual(firstReports[1]);
    expect(await runJson([...commands()[3]!, "--offline"], environment)).toEqual(firstReports[3]);
    expect(hub.requests.length).toBe(requests);
  });

  it("keeps the cache in $HF_HOME/hub when HF_HUB_CACHE is unset, in huggingface_hub's layout", async () => {
    const home = join(temporary, "hf-home");
    const environment = { HF_HUB_CACHE: undefined, HUGGINGFACE_HUB_CACHE: undefined, HF_HOME: home };
    const report = await runJson<{ ids: number[] }>(
      ["tokenize", "--model", "test-org/tiny-mistral", "--text", tokenizerCases[0]!.text],
      environment,
    );
    expect(report.ids).toEqual(tokenizerCases[0]!.ids_special);
    const repository = join(home, "hub", "models--test-org--tiny-mistral");
    const commit = await hub.commitOf("test-org/tiny-mistral");
    expect(readFileSync(join(repository, "refs", "main"), "utf8")).toBe(commit);
    expect(readFileSync(join(repository, "snapshots", commit, "tokenizer.json"))).toEqual(
      readFileSync(join(modelFolder, "tokenizer.json")),
    );
  });

  it("export --format gguf reads a Hub model and adapter as it reads the folders", async () => {
    const environment = { HF_HUB_CACHE: join(temporary, "cache-export") };
    type Report = { out: string; bytes: number; [field: string]: unknown };
    const exported = async (model: string, adapter: string) => {
      const { out, bytes, ...report } = await runJson<Report>(
        ["export", "--format", "gguf", "--model", model, "--adapter", adapter, "--out", output("a.gguf")],
        environment,
      );
      expect(bytes).toBeGreaterThan(0);
      return { report, bytes: readFileSync(out) };
    };
    const byFolder = await exported(modelFolder, adapterTrained);
    const byId = await exported("test-org/tiny-mistral", "test-org/tiny-mistral-lora");
    expect(byId.report).toEqual(byFolder.report);
    expect(byId.bytes.equals(byFolder.bytes)).toBe(true);
    // A model export reads the tokenizer from the cached snapshot too; this fixture's tokenizer has more
    // tokens than the model (see the fixtures README), which llama.cpp's vocabulary cannot hold.
    expectUserError(
      await run(
        ["export", "--format", "gguf", "--model", "test-org/tiny-mistral", "--out", output("m.gguf")],
        environment,
      ),
      "export",
      /GgufTokenizerError: the tokenizer has 2008 tokens but the model's vocab_size is 1024/,
    );
  });

  it("offline without a cached copy, private repositories and pickled adapters are typed errors", async () => {
    const empty = { HF_HUB_CACHE: join(temporary, "empty-cache") };
    expectUserError(
      await run(["generate", "--model", "test-org/tiny-mistral", "--prompt", "hi", "--offline"], empty),
      "generate",
      /HubOfflineError: .*test-org\/tiny-mistral.* offline mode is on/,
    );
    expectUserError(
      await run(
        ["generate", "--model", "test-org/private-mistral", "--prompt", "hello", "--steps", "2"],
        empty,
      ),
      "generate",
      /HubRepositoryNotFoundError/,
    );
    const withToken = await runJson<{ tokens: number[] }>(
      [
        "generate",
        "--model",
        "test-org/private-mistral",
        "--token",
        "hf_secret",
        "--prompt",
        "hello",
        "--steps",
        "2",
        "--backend",
        "js",
      ],
      empty,
    );
    expect(withToken.tokens).toHaveLength(2);
    expect(
      hub.requests.filter((request) => request.server === "cdn").every((request) => !request.authorized),
    ).toBe(true);
    expectUserError(
      await run(
        [
          "logits",
          "--model",
          modelFolder,
          "--adapter",
          "test-org/pickled-lora",
          "--input",
          referenceFile,
          "--out",
          output("l.safetensors"),
        ],
        empty,
      ),
      "logits",
      /UnsupportedAdapterFormatError: test-org\/pickled-lora has adapter_model.bin but no adapter_model.safetensors/,
    );
    expectUserError(
      await run(
        ["logits", "--model", "no-such-folder", "--input", referenceFile, "--out", output("l.safetensors")],
        empty,
      ),
      "logits",
      /--model no-such-folder does not exist/,
    );
  });
});
