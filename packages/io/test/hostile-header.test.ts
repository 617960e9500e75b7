import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const packageFolder = join(dirname(fileURLToPath(import.meta.url)), "..");
let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "peftjs-hostile-"));
  // The child process runs the built package; build it if this test runs before `pnpm build`.
  if (!existsSync(join(packageFolder, "dist", "node.js"))) {
    const tsupCli = join(dirname(createRequire(import.meta.url).resolve("tsup")), "cli-default.js");
    execFileSync(process.execPath, [tsupCli], { cwd: packageFolder, stdio: "ignore" });
  }
}, 180_000);
afterAll(() => rm(folder, { recursive: true, force: true }));

/** A header-only file whose `headerBytes`-byte header lists as many empty F32 tensors as fit. */
async function hostileFile(path: string, headerBytes: number): Promise<number> {
  const parts: string[] = [];
  let length = 2;
  for (let index = 0; ; index++) {
    const entry = `${index === 0 ? "" : ","}"t${index}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`;
    if (length + entry.length > headerBytes) break;
    parts.push(entry);
    length += entry.length;
  }
  const header = Buffer.from(`{${parts.join("")}}`.padEnd(headerBytes, " "));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  await writeFile(path, Buffer.concat([prefix, header]));
  return parts.length;
}

describe("a hostile header (many empty tensors)", () => {
  /**
   * Memory, not time, is asserted: a 20 MB header of 340 k empty tensors must open and read within a 256 MB
   * JavaScript heap. The tree-based parser needed ~30 bytes of heap per header byte and failed here (3.0 GB
   * for the 100 MB limit, where Python's safetensors 0.8 takes 1.45 GB); the scanner holds one TensorInfo per
   * tensor and the text (`pnpm bench` measures the 100 MB case).
   */
  it("opens and reads within a bounded heap", async () => {
    const path = join(folder, "hostile.safetensors");
    const tensors = await hostileFile(path, 20_000_000);
    const probe = `
      const io = await import(${JSON.stringify(new URL("../dist/node.js", import.meta.url).href)});
      const reader = await io.openSafetensorsFile(process.argv[1]);
      const opened = reader.names.length;
      await reader.close();
      const read = (await io.readSafetensorsFile(process.argv[1])).tensors.size;
      console.log(JSON.stringify({ opened, read }));`;
    const result = spawnSync(
      process.execPath,
      ["--max-old-space-size=256", "--input-type=module", "-e", probe, path],
      { encoding: "utf8" },
    );
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual({ opened: tensors, read: tensors });
  }, 60_000);
});
