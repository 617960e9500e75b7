// The hostile-header benchmark of issue 13: a file whose 100 MB header (the official limit) describes
// ~1.7 M empty tensors. Prints one JSON line per reader with the wall time and the peak resident memory of a
// fresh process (so runs do not share a heap). For comparison, Python's safetensors 0.8 needed 1.45 GB and
// 15 s on such a file (measured when the issue was filed); run `pnpm build` first.
import { spawnSync } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Writes a header-only file of `headerBytes` bytes of `{"tN":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`. */
function writeHostileHeaderFile(path, headerBytes) {
  const parts = [];
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
  const handle = openSync(path, "w");
  writeSync(handle, prefix);
  writeSync(handle, header);
  closeSync(handle);
  return parts.length;
}

const probe = `
const started = performance.now();
const io = await import(${JSON.stringify(new URL("../dist/node.js", import.meta.url).href)});
const path = process.argv[1];
const how = process.argv[2];
let count;
if (how === "open") { const reader = await io.openSafetensorsFile(path); count = reader.names.length; await reader.close(); }
else count = (await io.readSafetensorsFile(path)).tensors.size;
const usage = process.resourceUsage();
console.log(JSON.stringify({ count, ms: Math.round(performance.now() - started), peakRssMb: Math.round(usage.maxRSS / 1024) }));
`;

{
  const folder = await mkdtemp(join(tmpdir(), "peftjs-hostile-"));
  try {
    const path = join(folder, "hostile.safetensors");
    const tensors = writeHostileHeaderFile(path, 100_000_000);
    for (const how of ["open", "read"]) {
      const result = spawnSync(process.execPath, ["--input-type=module", "-e", probe, path, how], {
        encoding: "utf8",
      });
      if (result.status !== 0) throw new Error(result.stderr);
      const measured = JSON.parse(result.stdout);
      console.log(
        JSON.stringify({
          bench: "hostile-header",
          impl: how === "open" ? "openSafetensorsFile" : "readSafetensorsFile",
          headerBytes: 100_000_000,
          tensors,
          ...measured,
        }),
      );
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
