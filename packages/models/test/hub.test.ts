/**
 * Hub loading against a local Hub (`startLocalHub`: the Hub's URL layout and headers, LFS files redirected to
 * a second "CDN" server that refuses tokens), never the network. Checks the Hugging Face cache layout byte for
 * byte as huggingface_hub writes it (blobs named by ETag, relative snapshot symlinks, refs, .no_exist), that a
 * second load downloads nothing, offline mode, a cache written by hand in Python's layout, the typed errors,
 * sharded checkpoints, PEFT adapters, and the browser-flavoured source with a Cache API cache.
 */
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deserialize } from "@peftjs/io";
import { writeCheckpoint } from "@peftjs/io/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type CausalLM,
  createModel,
  type DownloadProgress,
  HubAuthenticationError,
  HubGatedRepositoryError,
  HubModelIdError,
  HubOfflineError,
  HubRepositoryNotFoundError,
  HubRequestError,
  HubRevisionNotFoundError,
  HuggingFaceTokenizer,
  Llama2cTokenizer,
  loadModelFromSource,
  ModelFileNotFoundError,
  openHubModelSource,
  parseHubModelId,
  type ResponseCache,
  readPeftAdapterFiles,
  UnsupportedAdapterFormatError,
} from "../src/index.js";
import {
  defaultHubCacheDirectory,
  type LocalHub,
  loadTokenizer,
  openCachedHubSource,
  openModelSource,
  startLocalHub,
} from "../src/node.js";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
const spBpe = join(fixtures, "hf-tokenizers/sp_bpe");
const stories = join(fixtures, "stories260k");
const adapterFolder = join(fixtures, "peft/lora_default/adapter_trained");

const root = mkdtempSync(join(tmpdir(), "peftjs-hub-"));
const hubFolder = join(root, "hub");
let hub: LocalHub;
let caseNumber = 0;
/** A fresh, empty cache folder per test. */
let cacheDirectory = "";

const gitBlobSha1 = (bytes: Uint8Array) =>
  createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

function repository(name: string, files: Record<string, string | Uint8Array>): void {
  const folder = join(hubFolder, ...name.split("/"));
  mkdirSync(folder, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(join(folder, file, ".."), { recursive: true });
    writeFileSync(join(folder, file), content);
  }
}

const tokenizerFiles = {
  "tokenizer.json": readFileSync(join(spBpe, "tokenizer.json")),
  "tokenizer_config.json": readFileSync(join(spBpe, "tokenizer_config.json")),
  "generation_config.json": JSON.stringify({ bos_token_id: 1, eos_token_id: [2, 0] }),
};

const storiesWeights = deserialize(new Uint8Array(readFileSync(join(stories, "model.safetensors")))).tensors;
const promptIds = [1, 403, 407, 261, 378, 432, 383, 286];

function logitsOf(model: CausalLM): Float32Array {
  const logits = model.forward([promptIds]);
  const values = logits.toFloat32Array();
  logits.dispose();
  model.dispose();
  return values;
}

beforeAll(async () => {
  repository("test-org/tiny-tokenizer", tokenizerFiles);
  repository("test-org/stories", {
    "config.json": readFileSync(join(stories, "config.json")),
    "model.safetensors": readFileSync(join(stories, "model.safetensors")),
    "tok512.bin": readFileSync(join(stories, "tok512.bin")),
  });
  const sharded = join(hubFolder, "test-org/sharded");
  await writeCheckpoint(sharded, storiesWeights, { maxShardSize: 300_000 });
  cpSync(join(stories, "config.json"), join(sharded, "config.json"));
  repository("test-org/private-tokenizer", tokenizerFiles);
  repository("test-org/gated-tokenizer", tokenizerFiles);
  repository("test-org/lora", {
    "adapter_config.json": readFileSync(join(adapterFolder, "adapter_config.json")),
    "adapter_model.safetensors": readFileSync(join(adapterFolder, "adapter_model.safetensors")),
  });
  repository("test-org/lora-pickle", {
    "adapter_config.json": readFileSync(join(adapterFolder, "adapter_config.json")),
    "adapter_model.bin": new Uint8Array([0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e]),
  });
  hub = await startLocalHub(hubFolder, {
    privateRepositories: { "test-org/private-tokenizer": "hf_right" },
    gatedRepositories: ["test-org/gated-tokenizer"],
  });
});

afterAll(async () => {
  await hub.close();
  rmSync(root, { recursive: true, force: true });
});

const savedEnvironment = { ...process.env };
beforeAll(() => {
  // The developer's own Hub settings must not leak into these tests.
  for (const name of [
    "HF_ENDPOINT",
    "HF_TOKEN",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HUB_CACHE",
    "HF_HOME",
  ]) {
    delete process.env[name];
  }
  process.env.HF_TOKEN_PATH = join(root, "no-token");
});
afterEach(() => {
  hub.requests.length = 0;
});
afterAll(() => {
  process.env = savedEnvironment;
});

function freshCache(): string {
  cacheDirectory = join(root, `cache-${++caseNumber}`);
  return cacheDirectory;
}

const options = () => ({ endpoint: hub.url, cacheDirectory });
const gets = () => hub.requests.filter((request) => request.method === "GET");

describe("Hub ids", () => {
  it("parses org/name and org/name@revision, refuses malformed ids", () => {
    expect(parseHubModelId("Qwen/Qwen3-0.6B")).toEqual({ repository: "Qwen/Qwen3-0.6B", revision: "main" });
    expect(parseHubModelId("org/model@refs/pr/1")).toEqual({
      repository: "org/model",
      revision: "refs/pr/1",
    });
    expect(parseHubModelId("org/model", { revision: "v2" }).revision).toBe("v2");
    for (const bad of ["org/a--b", "org/../x", "/abs", "org/name/extra", "org/model@", "a b/c"]) {
      expect(() => parseHubModelId(bad), bad).toThrow(HubModelIdError);
    }
    expect(() => parseHubModelId("org/m@v1", { revision: "v2" })).toThrow(/names revision v1/);
  });
});

describe("the Hugging Face cache, as huggingface_hub writes it", () => {
  it("downloads into blobs/snapshots/refs and records absent files in .no_exist", async () => {
    freshCache();
    const tokenizer = await loadTokenizer("test-org/tiny-tokenizer", options());
    expect(tokenizer).toBeInstanceOf(HuggingFaceTokenizer);
    // generation_config.json's eos ids join the tokenizer's </s> (2).
    expect(tokenizer.specialTokens.eos).toEqual([2, 0]);
    expect(tokenizer.encode("hello world")).toEqual([
      1,
      ...tokenizer.encode("hello world", { addSpecialTokens: false }),
    ]);

    const commit = await hub.commitOf("test-org/tiny-tokenizer");
    const repoRoot = join(cacheDirectory, "models--test-org--tiny-tokenizer");
    expect(readFileSync(join(repoRoot, "refs/main"), "utf8")).toBe(commit);
    for (const [file, content] of Object.entries(tokenizerFiles)) {
      const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
      const pointer = join(repoRoot, "snapshots", commit, file);
      expect(lstatSync(pointer).isSymbolicLink(), file).toBe(true);
      expect(readlinkSync(pointer)).toBe(`../../blobs/${gitBlobSha1(bytes)}`);
      expect(new Uint8Array(readFileSync(pointer))).toEqual(new Uint8Array(bytes));
    }
    for (const file of ["special_tokens_map.json", "chat_template.jinja", "chat_template.json"]) {
      expect(existsSync(join(repoRoot, ".no_exist", commit, file)), file).toBe(true);
    }
    expect(readFileSync(join(cacheDirectory, "CACHEDIR.TAG"), "utf8")).toMatch(
      /^Signature: 8a477f597d28d172789f06886806bc55\n/,
    );
  });

  it("downloads nothing the second time, and reads the rest at the pinned commit without any request", async () => {
    freshCache();
    await loadTokenizer("test-org/tiny-tokenizer", options());
    expect(
      gets()
        .map((request) => request.path.split("/").at(-1))
        .sort(),
    ).toEqual(["generation_config.json", "tokenizer.json", "tokenizer_config.json"]);
    hub.requests.length = 0;
    const again = await loadTokenizer("test-org/tiny-tokenizer", options());
    expect(again.encode("hello")).toEqual([1, 392, 410, 325, 328]);
    // One HEAD for tokenizer.json (main may have moved); everything else is read at that commit from the cache.
    expect(hub.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      "HEAD /test-org/tiny-tokenizer/resolve/main/tokenizer.json",
    ]);
  });

  it("keeps large files behind a redirect: blob named by sha256, CDN fetched without the token", async () => {
    freshCache();
    const progress: DownloadProgress[] = [];
    const source = await openModelSource("test-org/stories", {
      ...options(),
      token: "hf_anything",
      onProgress: (report) => progress.push(report),
    });
    const model = await loadModelFromSource(source);
    expect(logitsOf(model)).toEqual(
      logitsOf(createModel(JSON.parse(readFileSync(join(stories, "config.json"), "utf8")), storiesWeights)),
    );
    const weights = readFileSync(join(stories, "model.safetensors"));
    const commit = await hub.commitOf("test-org/stories");
    const pointer = join(cacheDirectory, "models--test-org--stories/snapshots", commit, "model.safetensors");
    expect(readlinkSync(pointer)).toBe(`../../blobs/${sha256(weights)}`);
    const cdn = hub.requests.filter((request) => request.server === "cdn");
    expect(cdn.map((request) => [request.method, request.status, request.authorized])).toEqual([
      ["GET", 200, false],
    ]);
    expect(
      hub.requests.filter((request) => request.server === "hub").every((request) => request.authorized),
    ).toBe(true);
    const last = progress.filter((report) => report.file === "model.safetensors").at(-1);
    expect(last).toEqual({ file: "model.safetensors", loaded: weights.length, total: weights.length });
  });

  it("loads a sharded checkpoint (model.safetensors.index.json) shard by shard", async () => {
    freshCache();
    const model = await loadModelFromSource(await openModelSource("test-org/sharded", options()));
    expect(logitsOf(model)).toEqual(
      logitsOf(createModel(JSON.parse(readFileSync(join(stories, "config.json"), "utf8")), storiesWeights)),
    );
    const shards = hub.requests.filter((request) => /model-\d+-of-\d+\.safetensors$/.test(request.path));
    expect(shards.length).toBeGreaterThan(1);
    expect(shards.every((request) => request.method === "HEAD" && request.status === 302)).toBe(true);
    // Each shard is downloaded once, from the CDN.
    expect(gets().filter((request) => request.server === "cdn")).toHaveLength(shards.length);
  });

  it("works offline from the cache (option and HF_HUB_OFFLINE), and says so when the file is not cached", async () => {
    freshCache();
    await loadTokenizer("test-org/tiny-tokenizer", options());
    hub.requests.length = 0;
    const offline = await loadTokenizer("test-org/tiny-tokenizer", { ...options(), offline: true });
    expect(offline.encode("hello")).toEqual([1, 392, 410, 325, 328]);
    process.env.HF_HUB_OFFLINE = "1";
    try {
      expect((await loadTokenizer("test-org/tiny-tokenizer", options())).vocabSize).toBe(2008);
      await expect(loadTokenizer("test-org/stories", options())).rejects.toThrow(HubOfflineError);
      await expect(loadTokenizer("test-org/stories", options())).rejects.toThrow(
        /tokenizer.json of test-org\/stories@main is not in the cache/,
      );
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
    expect(hub.requests).toEqual([]);
  });

  it("finds a cache written by hand in Python's layout: no download online, and offline", async () => {
    freshCache();
    const commit = await hub.commitOf("test-org/tiny-tokenizer");
    const repoRoot = join(cacheDirectory, "models--test-org--tiny-tokenizer");
    mkdirSync(join(repoRoot, "blobs"), { recursive: true });
    mkdirSync(join(repoRoot, "snapshots", commit), { recursive: true });
    mkdirSync(join(repoRoot, "refs"), { recursive: true });
    writeFileSync(join(repoRoot, "refs/main"), commit);
    for (const [file, content] of Object.entries(tokenizerFiles)) {
      const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
      writeFileSync(join(repoRoot, "blobs", gitBlobSha1(bytes)), bytes);
      symlinkSync(`../../blobs/${gitBlobSha1(bytes)}`, join(repoRoot, "snapshots", commit, file));
    }
    const online = await loadTokenizer("test-org/tiny-tokenizer", options());
    expect(online.encode("hello")).toEqual([1, 392, 410, 325, 328]);
    expect(gets()).toEqual([]);
    // A repository the Hub does not (or no longer) serve: the cached copy is used, as huggingface_hub does.
    cpSync(repoRoot, join(cacheDirectory, "models--gone--tokenizer"), {
      recursive: true,
      verbatimSymlinks: true,
    });
    expect((await loadTokenizer("gone/tokenizer", options())).vocabSize).toBe(2008);
    expect((await loadTokenizer("gone/tokenizer", { ...options(), offline: true })).vocabSize).toBe(2008);
  });

  it("honours HF_ENDPOINT, HF_HUB_CACHE and HF_HOME", async () => {
    const home = join(root, `home-${++caseNumber}`);
    process.env.HF_HOME = home;
    expect(defaultHubCacheDirectory()).toBe(join(home, "hub"));
    process.env.HF_HUB_CACHE = join(root, "explicit-cache");
    expect(defaultHubCacheDirectory()).toBe(join(root, "explicit-cache"));
    process.env.HF_ENDPOINT = `${hub.url}/`;
    try {
      await loadTokenizer("test-org/tiny-tokenizer");
      expect(existsSync(join(root, "explicit-cache/models--test-org--tiny-tokenizer/refs/main"))).toBe(true);
      delete process.env.HF_HUB_CACHE;
      await loadTokenizer("test-org/tiny-tokenizer");
      expect(existsSync(join(home, "hub/models--test-org--tiny-tokenizer/refs/main"))).toBe(true);
    } finally {
      delete process.env.HF_HOME;
      delete process.env.HF_HUB_CACHE;
      delete process.env.HF_ENDPOINT;
    }
  });
});

describe("typed errors naming the repository and the file", () => {
  it("unknown repository", async () => {
    freshCache();
    const load = loadTokenizer("test-org/no-such-model", options());
    await expect(load).rejects.toThrow(HubRepositoryNotFoundError);
    await expect(loadTokenizer("test-org/no-such-model", options())).rejects.toThrow(
      /tokenizer.json of test-org\/no-such-model@main: repository test-org\/no-such-model not found on http:\/\/127.0.0.1:\d+ \(HTTP 401\)/,
    );
  });

  it("private repository: no token, a wrong token, the right token (HF_TOKEN too)", async () => {
    freshCache();
    await expect(loadTokenizer("test-org/private-tokenizer", options())).rejects.toThrow(
      HubRepositoryNotFoundError,
    );
    await expect(
      loadTokenizer("test-org/private-tokenizer", { ...options(), token: "hf_wrong" }),
    ).rejects.toThrow(HubAuthenticationError);
    expect(
      (await loadTokenizer("test-org/private-tokenizer", { ...options(), token: "hf_right" })).vocabSize,
    ).toBe(2008);
    freshCache();
    process.env.HF_TOKEN = "hf_right";
    try {
      expect((await loadTokenizer("test-org/private-tokenizer", options())).vocabSize).toBe(2008);
    } finally {
      delete process.env.HF_TOKEN;
    }
    // The token file that `hf auth login` writes.
    freshCache();
    writeFileSync(join(root, "token-file"), "hf_right\n");
    process.env.HF_TOKEN_PATH = join(root, "token-file");
    try {
      expect((await loadTokenizer("test-org/private-tokenizer", options())).vocabSize).toBe(2008);
      freshCache();
      await expect(
        loadTokenizer("test-org/private-tokenizer", { ...options(), token: false }),
      ).rejects.toThrow(HubRepositoryNotFoundError);
    } finally {
      process.env.HF_TOKEN_PATH = join(root, "no-token");
    }
  });

  it("gated repository, unknown revision, missing file, unreachable Hub", async () => {
    freshCache();
    await expect(loadTokenizer("test-org/gated-tokenizer", options())).rejects.toThrow(
      HubGatedRepositoryError,
    );
    await expect(loadTokenizer("test-org/tiny-tokenizer@v9", options())).rejects.toThrow(
      HubRevisionNotFoundError,
    );
    const source = await openModelSource("test-org/tiny-tokenizer", options());
    await expect(source.readBytes("weights/missing.bin")).rejects.toThrow(ModelFileNotFoundError);
    await expect(source.readBytes("weights/missing.bin")).rejects.toThrow(
      /^test-org\/tiny-tokenizer has no weights\/missing.bin/,
    );
    const closed = "http://127.0.0.1:9"; // discard port: nothing listens
    await expect(loadTokenizer("test-org/elsewhere", { endpoint: closed, cacheDirectory })).rejects.toThrow(
      HubRequestError,
    );
  });
});

describe("PEFT adapters from the Hub", () => {
  it("reads adapter_config.json and adapter_model.safetensors", async () => {
    freshCache();
    const files = await readPeftAdapterFiles(await openModelSource("test-org/lora", options()));
    expect(files.config).toEqual(
      JSON.parse(readFileSync(join(adapterFolder, "adapter_config.json"), "utf8")),
    );
    expect(files.weights).toEqual(
      new Uint8Array(readFileSync(join(adapterFolder, "adapter_model.safetensors"))),
    );
  });

  it("refuses an adapter_model.bin-only repository with a clear message", async () => {
    freshCache();
    const read = async () => readPeftAdapterFiles(await openModelSource("test-org/lora-pickle", options()));
    await expect(read()).rejects.toThrow(UnsupportedAdapterFormatError);
    await expect(read()).rejects.toThrow(
      /test-org\/lora-pickle has adapter_model.bin but no adapter_model.safetensors/,
    );
  });
});

describe("other locations", () => {
  it("loads a llama2.c tokenizer from a folder and from the Hub", async () => {
    freshCache();
    const fromFolder = await loadTokenizer(stories);
    const fromHub = await loadTokenizer("test-org/stories", options());
    expect(fromFolder).toBeInstanceOf(Llama2cTokenizer);
    expect(fromHub.encode("Once upon a time")).toEqual(fromFolder.encode("Once upon a time"));
  });

  it("loads from a plain http(s) folder URL", async () => {
    const tokenizer = await loadTokenizer(`${hub.url}/test-org/tiny-tokenizer/resolve/main/`);
    expect(tokenizer.specialTokens.eos).toEqual([2, 0]);
  });

  it("refuses a location that is no folder, URL or Hub id", async () => {
    await expect(openModelSource("./no/such/folder/here")).rejects.toThrow(
      /is not a folder, an http\(s\) URL or a Hub model id/,
    );
  });
});

/** An in-memory stand-in for the browser's Cache API. */
function memoryCache(): ResponseCache & { keys(): string[] } {
  const entries = new Map<string, Uint8Array>();
  return {
    match: async (key) => {
      const bytes = entries.get(key);
      return bytes === undefined ? undefined : new Response(bytes.slice());
    },
    put: async (key, response) => {
      entries.set(key, new Uint8Array(await response.arrayBuffer()));
    },
    keys: () => [...entries.keys()],
  };
}

describe("the browser-flavoured Hub source (Cache API)", () => {
  it("caches files by resolve URL: the second load makes no request; offline reads the cache only", async () => {
    const cache = memoryCache();
    const open = (extra = {}) =>
      openHubModelSource("test-org/tiny-tokenizer", { endpoint: hub.url, cache, ...extra });
    const { loadTokenizerFromSource } = await import("../src/index.js");
    const first = await loadTokenizerFromSource(await open());
    expect(first.encode("hello")).toEqual([1, 392, 410, 325, 328]);
    expect(cache.keys()).toContain(`${hub.url}/test-org/tiny-tokenizer/resolve/main/tokenizer.json`);
    const requestsAfterFirst = hub.requests.length;
    // The second load asks only about the files that were absent (HEAD), downloads nothing.
    await loadTokenizerFromSource(await open());
    expect(
      hub.requests
        .slice(requestsAfterFirst)
        .every((request) => request.method === "HEAD" && request.status === 404),
    ).toBe(true);
    hub.requests.length = 0;
    expect((await loadTokenizerFromSource(await open({ offline: true }))).vocabSize).toBe(2008);
    expect(hub.requests).toEqual([]);
    const empty = await openHubModelSource("test-org/stories", {
      endpoint: hub.url,
      cache: memoryCache(),
      offline: true,
    });
    await expect(empty.readBytes("config.json")).rejects.toThrow(HubOfflineError);
  });

  it("gives the Hub's typed errors", async () => {
    const source = await openHubModelSource("test-org/private-tokenizer", {
      endpoint: hub.url,
      cache: false,
    });
    await expect(source.readBytes("tokenizer.json")).rejects.toThrow(HubRepositoryNotFoundError);
    const wrong = await openHubModelSource("test-org/private-tokenizer", {
      endpoint: hub.url,
      cache: false,
      token: "x",
    });
    await expect(wrong.has("tokenizer.json")).rejects.toThrow(HubAuthenticationError);
  });

  it("reads weights with range requests when there is no cache", async () => {
    const model = await loadModelFromSource(
      await openHubModelSource("test-org/stories", { endpoint: hub.url, cache: false }),
    );
    expect(model.config.vocabSize).toBe(512);
    model.dispose();
    expect(hub.requests.some((request) => request.server === "cdn" && request.status === 206)).toBe(true);
  });
});

describe("the cached Hub source", () => {
  it("pins the commit after the first file and exposes local paths", async () => {
    freshCache();
    const source = openCachedHubSource("test-org/tiny-tokenizer", options());
    expect(source.commit).toBeUndefined();
    const path = await source.localFile("tokenizer.json");
    expect(source.commit).toBe(await hub.commitOf("test-org/tiny-tokenizer"));
    expect(path).toBe(
      join(cacheDirectory, "models--test-org--tiny-tokenizer/snapshots", source.commit!, "tokenizer.json"),
    );
    await source.readBytes("tokenizer_config.json");
    expect(hub.requests.map((request) => request.path)).toContain(
      `/test-org/tiny-tokenizer/resolve/${source.commit}/tokenizer_config.json`,
    );
  });
});
