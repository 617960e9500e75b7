import { readFileSync } from "node:fs";
import { deserialize, serialize } from "@peftjs/io";
import { describe, expect, it } from "vitest";
import { type CausalLM, createModel, loadModelFromUrl, ModelSourceError } from "../src/index.js";

const fixtures = new URL("./fixtures/stories260k/", import.meta.url);
const configBytes = new Uint8Array(readFileSync(new URL("config.json", fixtures)));
const modelBytes = new Uint8Array(readFileSync(new URL("model.safetensors", fixtures)));
const weights = deserialize(modelBytes).tensors;
const ids = [1, 403, 407, 261, 378];

/** A fetch over an in-memory folder; 404 for unknown paths (no range support: status 200 with the whole file). */
function fakeFetch(files: Map<string, Uint8Array>, requested: string[]): typeof fetch {
  return (async (input: string | URL | Request) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    requested.push(url.pathname);
    const body = files.get(url.pathname);
    return body === undefined
      ? new Response("not found", { status: 404 })
      : new Response(body.slice().buffer, { status: 200 });
  }) as typeof fetch;
}

function logitsOf(model: CausalLM): Float32Array {
  const logits = model.forward([ids]);
  const values = logits.toFloat32Array();
  logits.dispose();
  model.dispose();
  return values;
}

const expected = logitsOf(createModel(JSON.parse(new TextDecoder().decode(configBytes)), weights));

describe("loadModelFromUrl", () => {
  it("loads a single-file folder", async () => {
    const requested: string[] = [];
    const files = new Map([
      ["/stories/config.json", configBytes],
      ["/stories/model.safetensors", modelBytes],
    ]);
    const model = await loadModelFromUrl("https://example.test/stories", {
      fetch: fakeFetch(files, requested),
    });
    expect(logitsOf(model)).toEqual(expected);
    expect(requested).toContain("/stories/model.safetensors.index.json");
  });

  it("loads the shards listed in model.safetensors.index.json", async () => {
    const names = [...weights.keys()];
    const half = Math.ceil(names.length / 2);
    const shardNames = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
    const weightMap: Record<string, string> = {};
    const shards = [names.slice(0, half), names.slice(half)].map((group, shard) => {
      for (const name of group) weightMap[name] = shardNames[shard]!;
      return serialize(new Map(group.map((name) => [name, weights.get(name)!])));
    });
    const index = { metadata: { total_size: modelBytes.length }, weight_map: weightMap };
    const files = new Map([
      ["/m/config.json", configBytes],
      ["/m/model.safetensors.index.json", new TextEncoder().encode(JSON.stringify(index))],
      [`/m/${shardNames[0]}`, shards[0]!],
      [`/m/${shardNames[1]}`, shards[1]!],
    ]);
    const requested: string[] = [];
    const model = await loadModelFromUrl(new URL("https://example.test/m/"), {
      fetch: fakeFetch(files, requested),
    });
    expect(logitsOf(model)).toEqual(expected);
    expect(requested).not.toContain("/m/model.safetensors");
  });

  it("treats an HTML answer with status 200 for the index probe (an SPA fallback) as not sharded", async () => {
    const requested: string[] = [];
    const files = new Map([
      ["/app/config.json", configBytes],
      ["/app/model.safetensors", modelBytes],
    ]);
    const inner = fakeFetch(files, requested);
    const spaFallback = (async (input: string | URL | Request) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (!files.has(url.pathname)) {
        requested.push(url.pathname);
        return new Response("<!doctype html><html><body>app</body></html>", {
          status: 200,
          headers: { "content-type": "text/html" },
        });
      }
      return inner(input);
    }) as typeof fetch;
    const model = await loadModelFromUrl("http://localhost:5173/app", { fetch: spaFallback });
    expect(requested).toContain("/app/model.safetensors.index.json");
    expect(logitsOf(model)).toEqual(expected);
    // A config.json that is not JSON is still an error: it is required.
    const broken = new Map([["/app/config.json", new TextEncoder().encode("<!doctype html>")]]);
    await expect(loadModelFromUrl("http://localhost/app", { fetch: fakeFetch(broken, []) })).rejects.toThrow(
      /config\.json is not valid JSON/,
    );
  });

  it("names the URL and status of a failed request", async () => {
    const files = new Map<string, Uint8Array>();
    await expect(
      loadModelFromUrl("https://example.test/missing/", { fetch: fakeFetch(files, []) }),
    ).rejects.toThrow(
      new ModelSourceError("https://example.test/missing/config.json answered with status 404"),
    );
    const failing = (async () => {
      throw new TypeError("network down");
    }) as typeof fetch;
    await expect(loadModelFromUrl("https://example.test/x/", { fetch: failing })).rejects.toThrow(
      "request for https://example.test/x/config.json failed",
    );
  });
});
