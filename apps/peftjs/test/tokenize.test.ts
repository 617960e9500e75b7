/**
 * `peftjs tokenize` end to end (the built `dist/cli.js`): ids and tokens as Python's `tokenizers` encodes them
 * (test/fixtures/sp_bpe, exact), chats as transformers' apply_chat_template(tokenize=True), llama2.c's
 * tokenizer, Hub ids through a local Hub (`startLocalHub`) with the cache reused on the second run, and the
 * CLI contract (exit codes, one-line typed errors, escaped control characters).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type LocalHub, startLocalHub } from "@peftjs/models/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const spBpe = fileURLToPath(new URL("./fixtures/sp_bpe/", import.meta.url));
const temporary = mkdtempSync(join(tmpdir(), "peftjs-tokenize-"));
const cases = JSON.parse(readFileSync(join(spBpe, "cases.json"), "utf8")).cases as {
  name: string;
  text: string;
  ids: number[];
  ids_special: number[];
  tokens: string[];
}[];
const chat = JSON.parse(readFileSync(join(spBpe, "chat.json"), "utf8")).conversations as {
  name: string;
  messages: unknown[];
  kwargs: { add_generation_prompt: boolean };
  ids: number[];
}[];

let hub: LocalHub;
let cacheCount = 0;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI with Hub settings pointing at the local Hub and a cache of the test's own. Asynchronous: the
 * local Hub answers from this process, which a synchronous spawn would block.
 */
function tokenize(args: string[], environment: Record<string, string> = {}): Promise<RunResult> {
  const child = spawn(process.execPath, [cli, "tokenize", ...args], {
    env: {
      ...process.env,
      NO_COLOR: "1",
      PEFTJS_DEBUG: "",
      HF_ENDPOINT: hub.url,
      HF_HUB_CACHE: join(temporary, "cache"),
      HF_TOKEN_PATH: join(temporary, "no-token"),
      HF_TOKEN: "",
      HF_HUB_OFFLINE: "",
      ...environment,
    },
  });
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

async function tokenizeJson(args: string[], environment: Record<string, string> = {}) {
  const result = await tokenize([...args, "--json"], environment);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as { ids: number[]; tokens: string[] };
}

function expectUserError(result: RunResult, pattern: RegExp) {
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^peftjs tokenize: \w+Error: /);
  expect(lines[0]).toMatch(pattern);
}

beforeAll(async () => {
  const repository = join(temporary, "hub/test-org/sp-bpe");
  mkdirSync(repository, { recursive: true });
  for (const file of ["tokenizer.json", "tokenizer_config.json"]) {
    writeFileSync(join(repository, file), readFileSync(join(spBpe, file)));
  }
  hub = await startLocalHub(join(temporary, "hub"), { isLargeFile: (file) => file === "tokenizer.json" });
});

afterAll(async () => {
  await hub.close();
  rmSync(temporary, { recursive: true, force: true });
});

describe("peftjs tokenize", () => {
  const byName = (name: string) => cases.find((entry) => entry.name === name)!;

  it("encodes --text as Python's tokenizers, with and without special tokens", async () => {
    for (const name of ["ascii_sentence", "special_s", "emoji_zwj_family", "long_number", "bom_start"]) {
      const testCase = byName(name);
      expect(testCase, name).toBeDefined();
      const withSpecial = await tokenizeJson(["--tokenizer", spBpe, "--text", testCase.text]);
      expect(withSpecial.ids, name).toEqual(testCase.ids_special);
      const plain = await tokenizeJson(["--tokenizer", spBpe, "--text", testCase.text, "--no-special"]);
      expect(plain, name).toEqual({ ids: testCase.ids, tokens: testCase.tokens });
    }
  });

  it("encodes a --file as it is (control characters and NUL included)", async () => {
    for (const name of ["python_code", "control_chars", "crlf"]) {
      const testCase = byName(name);
      const path = join(temporary, `${name}.txt`);
      writeFileSync(path, testCase.text);
      expect(await tokenizeJson(["--model", spBpe, "--file", path, "--no-special"]), name).toEqual({
        ids: testCase.ids,
        tokens: testCase.tokens,
      });
    }
  });

  it("tokenizes --chat as apply_chat_template(tokenize=True), with --generation-prompt", async () => {
    for (const conversation of chat) {
      const path = join(temporary, `${conversation.name}.json`);
      writeFileSync(path, JSON.stringify(conversation.messages));
      const args = ["--model", spBpe, "--chat", path];
      if (conversation.kwargs.add_generation_prompt) args.push("--generation-prompt");
      expect((await tokenizeJson(args)).ids, conversation.name).toEqual(conversation.ids);
    }
  });

  it("reads llama2.c's tok512.bin (embedded stories260K)", async () => {
    const report = await tokenizeJson(["--model", "embedded", "--text", "Once upon a time"]);
    expect(report.ids[0]).toBe(1);
    expect(report.tokens.slice(0, 2)).toEqual(["\n<s>\n", " Once"]);
    // In the listing, its newlines are escaped.
    const listing = await tokenize(["--model", "embedded", "--text", "Once"]);
    expect(listing.stdout.split("\n").slice(0, 2)).toEqual(["2 tokens", "  1  \\n<s>\\n"]);
  });

  it("loads a Hub id through the local Hub once, then from the cache (no second download, offline too)", async () => {
    const cache = join(temporary, `hub-cache-${++cacheCount}`);
    const testCase = byName("ascii_sentence");
    const first = await tokenizeJson(["--model", "test-org/sp-bpe", "--text", testCase.text], {
      HF_HUB_CACHE: cache,
    });
    expect(first.ids).toEqual(testCase.ids_special);
    const downloads = () => hub.requests.filter((request) => request.method === "GET").length;
    const before = downloads();
    expect(before).toBeGreaterThan(0);
    const second = await tokenizeJson(["--model", "test-org/sp-bpe", "--text", testCase.text], {
      HF_HUB_CACHE: cache,
    });
    expect(second).toEqual(first);
    expect(downloads()).toBe(before);
    const requestsBefore = hub.requests.length;
    const offline = await tokenizeJson(["--model", "test-org/sp-bpe", "--text", testCase.text], {
      HF_HUB_CACHE: cache,
      HF_HUB_OFFLINE: "1",
    });
    expect(offline).toEqual(first);
    expect(hub.requests.length).toBe(requestsBefore);
  });

  it("prints one escaped line per token, never a raw control character", async () => {
    const folder = join(temporary, "control-tokenizer");
    mkdirSync(folder, { recursive: true });
    writeFileSync(
      join(folder, "tokenizer.json"),
      JSON.stringify({
        version: "1.0",
        added_tokens: [],
        normalizer: null,
        pre_tokenizer: { type: "WhitespaceSplit" },
        post_processor: null,
        decoder: null,
        model: { type: "BPE", vocab: { a: 0, "\u001b": 1, "\u009b": 2, "\n": 3 }, merges: [] },
      }),
    );
    const result = await tokenize(["--tokenizer", folder, "--text", "a \u001b \u009b"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("3 tokens\n0  a\n1  \\u001b\n2  \\u009b\n");
    const json = await tokenize(["--tokenizer", folder, "--text", "a \u009b", "--json"]);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the output must contain none of them.
    expect(json.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(JSON.parse(json.stdout).tokens).toEqual(["a", "\u009b"]);
  });

  it("fails with exit 1 and one typed line for usage mistakes and Hub errors", async () => {
    expectUserError(await tokenize(["--text", "x"]), /give exactly one of --model, --tokenizer/);
    // Files are checked first (the command's file plan): a missing --chat file is named before anything else.
    expectUserError(
      await tokenize(["--model", spBpe, "--text", "x", "--chat", "c.json"]),
      /CliUsageError: --chat c\.json does not exist/,
    );
    const twoInputs = join(temporary, "two-inputs.json");
    writeFileSync(twoInputs, "[]");
    expectUserError(
      await tokenize(["--model", spBpe, "--text", "x", "--chat", twoInputs]),
      /got --text and --chat/,
    );
    expectUserError(await tokenize(["--model", spBpe, "--text", "x", "--generation-prompt"]), /--chat only/);
    expectUserError(
      await tokenize(["--model", "no-such-folder", "--text", "x"]),
      /--model no-such-folder does not exist/,
    );
    expectUserError(
      await tokenize(["--model", "test-org/missing", "--text", "x"], {
        HF_HUB_CACHE: join(temporary, "empty-cache"),
      }),
      /HubRepositoryNotFoundError: tokenizer.json of test-org\/missing@main: repository test-org\/missing not found/,
    );
    expectUserError(
      await tokenize(["--model", "test-org/sp-bpe@v2", "--text", "x"], {
        HF_HUB_CACHE: join(temporary, "empty-cache"),
      }),
      /HubRevisionNotFoundError/,
    );
    const notAList = join(temporary, "bad-chat.json");
    writeFileSync(notAList, JSON.stringify({ role: "user", content: "hi" }));
    expectUserError(await tokenize(["--model", spBpe, "--chat", notAList]), /must hold a JSON array/);
    const conversation = join(temporary, "one.json");
    writeFileSync(conversation, JSON.stringify([{ role: "user", content: "hi" }]));
    expectUserError(
      await tokenize(["--model", "embedded", "--chat", conversation]),
      /llama2.c\) has no chat template/,
    );
    expectUserError(
      await tokenize(["--model", spBpe, "--chat", join(temporary, "tool.json")]),
      /CliUsageError: --chat \S+tool.json does not exist/,
    );
  });

  it("turns the template's raise_exception into a typed error", async () => {
    const path = join(temporary, "tool-role.json");
    writeFileSync(path, JSON.stringify([{ role: "tool", content: "42" }]));
    expectUserError(
      await tokenize(["--model", spBpe, "--chat", path]),
      /ChatTemplateRenderError: .*Unknown role: tool/,
    );
  });
});
