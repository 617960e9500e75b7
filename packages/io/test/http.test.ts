import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  deserialize,
  openSafetensors,
  SafetensorsSourceError,
  SafetensorsTensorNotFoundError,
} from "../src/index.js";
import { fixtureBytes } from "./helpers.js";

const file = fixtureBytes("many_tensors.safetensors");
const headerLength = Number(new DataView(file.buffer).getBigUint64(0, true));

interface Served {
  ranges: string[];
  bytes: number;
}

/** A static file server with Range support (or without it, under /no-range/), recording what it sends. */
function startServer(served: Served): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url?.startsWith("/missing")) {
      response.writeHead(404).end();
      return;
    }
    if (request.url?.startsWith("/unknown-size")) {
      response.writeHead(206, { "Content-Range": "bytes 0-7/*" }).end(Buffer.from(file.subarray(0, 8)));
      return;
    }
    if (request.url?.startsWith("/short") && request.headers.range !== "bytes=0-7") {
      response
        .writeHead(206, { "Content-Range": `bytes 8-9/${file.length}` })
        .end(Buffer.from(file.subarray(8, 10)));
      return;
    }
    const range = request.headers.range;
    const match = range === undefined ? null : /^bytes=(\d+)-(\d+)$/.exec(range);
    if (request.url?.startsWith("/no-range") || match === null) {
      served.bytes += file.length;
      response.writeHead(200, { "Content-Length": file.length }).end(Buffer.from(file));
      return;
    }
    const first = Number(match[1]);
    const last = Math.min(Number(match[2]), file.length - 1);
    served.ranges.push(`${first}-${last}`);
    served.bytes += last - first + 1;
    response
      .writeHead(206, {
        "Content-Range": `bytes ${first}-${last}/${file.length}`,
        "Content-Length": last - first + 1,
      })
      .end(Buffer.from(file.subarray(first, last + 1)));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

const served: Served = { ranges: [], bytes: 0 };
let server: Server;
let base: string;
beforeAll(async () => {
  server = await startServer(served);
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("reading over HTTP", () => {
  it("opens with two range requests (length, header) and reads one tensor with one more", async () => {
    served.ranges = [];
    served.bytes = 0;
    const reader = await openSafetensors(`${base}/model.safetensors`);
    expect(served.ranges).toEqual(["0-7", `8-${8 + headerLength - 1}`]);
    expect(served.bytes).toBe(8 + headerLength);
    const info = reader.info("layer.7.w");
    if (info === undefined) throw new Error("layer.7.w is missing");
    const tensor = await reader.read("layer.7.w");
    const [begin, end] = info.dataOffsets;
    expect(served.ranges[2]).toBe(`${8 + headerLength + begin}-${8 + headerLength + end - 1}`);
    expect(served.bytes).toBe(8 + headerLength + end - begin);
    expect(tensor.data).toEqual(deserialize(file).tensors.get("layer.7.w")?.data);
    await expect(reader.read("nope")).rejects.toThrow(SafetensorsTensorNotFoundError);
  });

  it("reads every tensor identically to the in-memory parser", async () => {
    const reader = await openSafetensors(new URL(`${base}/model.safetensors`));
    const all = await reader.readAll();
    const expected = deserialize(file).tensors;
    expect([...all.keys()]).toEqual([...expected.keys()]);
    for (const [name, tensor] of all) expect(tensor.data, name).toEqual(expected.get(name)?.data);
  });

  it("falls back to the full body when the server ignores ranges", async () => {
    const reader = await openSafetensors(`${base}/no-range/model.safetensors`);
    expect(reader.names.length).toBe(600);
  });

  it("raises SafetensorsSourceError for HTTP errors, unreachable hosts and non-URLs", async () => {
    await expect(openSafetensors(`${base}/missing.safetensors`)).rejects.toThrow(SafetensorsSourceError);
    await expect(openSafetensors(`${base}/unknown-size.safetensors`)).rejects.toThrow(/Content-Range/);
    await expect(openSafetensors(`${base}/short.safetensors`)).rejects.toThrow(
      /expected \d+ bytes at offset 8, got 2/,
    );
    await expect(openSafetensors("http://127.0.0.1:1/x.safetensors")).rejects.toThrow(SafetensorsSourceError);
    await expect(openSafetensors("/some/path.safetensors")).rejects.toThrow(/openSafetensorsFile/);
    await expect(openSafetensors("ftp://example.com/x")).rejects.toThrow(SafetensorsSourceError);
  });
});
