#!/usr/bin/env node
// Packs every publishable workspace package (packages/*, apps/*; private ones are skipped) into a tarball,
// exactly as `pnpm publish` would upload it (workspace:^ ranges replaced by real versions, only the `files`
// of each package.json). Usage: `pnpm pack-packages [--out DIR] [--json]` (default ./packed/). Build first
// (`pnpm build`): the tarballs contain dist/. Prints one line per package, or a JSON array with --json.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const outIndex = args.indexOf("--out");
if (outIndex >= 0 && args[outIndex + 1] === undefined) {
  console.error("usage: pnpm pack-packages [--out DIR] [--json]");
  process.exit(1);
}
const out = resolve(outIndex >= 0 ? args[outIndex + 1] : join(root, "packed"));
const asJson = args.includes("--json");

const folders = ["packages", "apps"].flatMap((group) =>
  readdirSync(join(root, group), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(root, group, entry.name, "package.json")))
    .map((entry) => join(root, group, entry.name)),
);
mkdirSync(out, { recursive: true });
// The pnpm that runs this script (`pnpm pack-packages`, or pnpm fetched by npx), else the one on the PATH.
// biome-ignore lint/suspicious/noUndeclaredEnvVars: set by the package manager that runs the script
const execPath = process.env.npm_execpath;
const pnpm =
  execPath && /pnpm/.test(execPath) && /\.c?js$/.test(execPath) ? [process.execPath, execPath] : ["pnpm"];
const packed = [];
for (const folder of folders.sort()) {
  const manifest = JSON.parse(readFileSync(join(folder, "package.json"), "utf8"));
  if (manifest.private) continue;
  if (!existsSync(join(folder, "dist"))) {
    console.error(`${manifest.name}: no dist/ in ${folder}; run "pnpm build" first`);
    process.exit(1);
  }
  const output = execFileSync(pnpm[0], [...pnpm.slice(1), "pack", "--pack-destination", out, "--json"], {
    cwd: folder,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const report = JSON.parse(output);
  const tarball = resolve(out, report.filename ?? report[0]?.filename);
  packed.push({ name: manifest.name, version: manifest.version, folder, tarball });
  if (!asJson) console.log(`${manifest.name}@${manifest.version} -> ${tarball}`);
}
if (asJson) console.log(JSON.stringify(packed, null, 2));
