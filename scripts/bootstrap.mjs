#!/usr/bin/env node
// One entry point for the README's two commands (`npm run demo`, `npm test`) on a fresh clone that has only
// Node >= 20 and npm: it installs the workspace with the pinned pnpm (fetched through npx when no matching
// pnpm is on the PATH), then runs the requested job. No global installs are assumed or made.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pinned = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).packageManager.split("@")[1];
const extraArgs = process.argv.slice(3);
// pnpm runs the demo inside apps/peftjs; its output belongs where the user typed `npm run demo`.
const demoArgs = extraArgs.includes("--out")
  ? extraArgs
  : // biome-ignore lint/suspicious/noUndeclaredEnvVars: npm sets INIT_CWD to where the user ran it
    [...extraArgs, "--out", join(process.env.INIT_CWD ?? process.cwd(), "peftjs-demo-output")];
const jobs = {
  test: [["run", "check"]],
  demo: [
    ["--filter", "peftjs", "run", "build:deps"],
    ["--filter", "peftjs", "run", "demo", ...demoArgs],
  ],
};

const job = process.argv[2];
if (!(job in jobs)) {
  console.error(`usage: node scripts/bootstrap.mjs <${Object.keys(jobs).join("|")}> [args]`);
  process.exit(1);
}

function pnpmCommand() {
  try {
    const version = execFileSync("pnpm", ["--version"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    if (version.trim() === pinned) return ["pnpm"];
  } catch {
    // no pnpm on the PATH: fall through to npx
  }
  return ["npx", "--yes", `pnpm@${pinned}`];
}

function run(command) {
  const [bin, ...args] = command;
  const result = spawnSync(bin, args, { cwd: root, stdio: "inherit", shell: process.platform === "win32" });
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const pnpm = pnpmCommand();
const frozen = existsSync(join(root, "pnpm-lock.yaml")) ? ["--frozen-lockfile"] : [];
run([...pnpm, "install", ...frozen]);
for (const step of jobs[job]) run([...pnpm, ...step]);
