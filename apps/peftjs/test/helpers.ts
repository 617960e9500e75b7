import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { type RawTensor, toFloat32 } from "@peftjs/io";
import { readJsonFile, readSafetensorsFile } from "@peftjs/io/node";
import { expect } from "vitest";

// Helpers of the end-to-end tests: they spawn the built command line (`node dist/cli.js`, so run
// `pnpm build` first).

export const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

/** A fixture path under `test/fixtures/`. */
export function fixture(path: string): string {
  return fileURLToPath(new URL(`./fixtures/${path}`, import.meta.url));
}

/** The outcome of one run of the built command line. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli.js ...args` without colour; commands that compute get `--backend js` from the caller. */
export function peftjs(...args: string[]): RunResult {
  const result = spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
    env: { ...process.env, NO_COLOR: "1", PEFTJS_DEBUG: "" },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs a command that must succeed and returns its stdout parsed as JSON (the command gets `--json`). */
export function peftjsJson<T = Record<string, unknown>>(...args: string[]): T {
  const result = peftjs(...args, "--json");
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/**
 * Asserts the user-error contract: exit 1, exactly one line on stderr of the form
 * `peftjs <command>: <ErrorName>: <message>`, no stack trace, and the message matches `pattern`.
 */
export function expectUserError(result: RunResult, command: string, pattern: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^peftjs ${command}: \\w+Error: `));
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

/** Asserts that nothing was left at `path`: neither the output nor a temporary sibling folder. */
export function expectNoOutput(path: string): void {
  expect(existsSync(path)).toBe(false);
  const parent = dirname(path);
  if (existsSync(parent)) {
    const leftovers = readdirSync(parent).filter((entry) => entry.startsWith(`.${basename(path)}.peftjs-`));
    expect(leftovers).toEqual([]);
  }
}

/** The tensors of a safetensors file. */
export async function tensorsOf(path: string): Promise<Map<string, RawTensor>> {
  return (await readSafetensorsFile(path)).tensors;
}

/** The `__metadata__` of a safetensors file. */
export async function metadataOf(path: string): Promise<Record<string, string> | null> {
  return (await readSafetensorsFile(path)).metadata;
}

/** max |a − b| of two float tensors (any float dtype). */
export function maxAbsDifference(a: RawTensor, b: RawTensor): number {
  expect(a.shape).toEqual(b.shape);
  const left = toFloat32(a);
  const right = toFloat32(b);
  let max = 0;
  for (let index = 0; index < left.length; index++) {
    max = Math.max(max, Math.abs((left[index] as number) - (right[index] as number)));
  }
  return max;
}

/** ‖a − b‖_F / ‖b‖_F of two float tensors. */
export function relativeDifference(a: RawTensor, b: RawTensor): number {
  expect(a.shape).toEqual(b.shape);
  const left = toFloat32(a);
  const right = toFloat32(b);
  let difference = 0;
  let norm = 0;
  for (let index = 0; index < left.length; index++) {
    difference += ((left[index] as number) - (right[index] as number)) ** 2;
    norm += (right[index] as number) ** 2;
  }
  return Math.sqrt(difference / norm);
}

/**
 * An `adapter_config.json` with `target_modules` sorted: PEFT writes a Python set there, whose order is
 * arbitrary, so two configs are compared with the list sorted.
 */
export async function normalizedAdapterConfig(folder: string): Promise<Record<string, unknown>> {
  const config = await readJsonFile<Record<string, unknown>>(`${folder}/adapter_config.json`);
  const targets = config.target_modules;
  return { ...config, target_modules: Array.isArray(targets) ? [...targets].sort() : targets };
}
