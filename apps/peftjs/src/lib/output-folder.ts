import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, rmdir } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { CliUsageError } from "../cli-error.js";

async function entriesOf(path: string): Promise<string[] | null> {
  try {
    return await readdir(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    if (code === "ENOTDIR") throw new CliUsageError(`--out ${path} exists and is not a folder`);
    throw error;
  }
}

/**
 * Writes an output folder all at once: `write` fills a temporary sibling folder, which is renamed to `outDir`
 * only when it succeeded. On failure the temporary folder is removed, so no partial output is ever left at
 * `outDir`. An existing `outDir` must be empty (it is never overwritten: remove it or pick another folder).
 */
export async function writeOutputFolder(
  outDir: string,
  write: (folder: string) => Promise<void>,
): Promise<string> {
  const target = resolve(outDir);
  const existing = await entriesOf(target);
  if (existing !== null && existing.length > 0) {
    throw new CliUsageError(
      `--out ${outDir} already exists and is not empty; remove it or choose another folder`,
    );
  }
  const temporary = join(
    dirname(target),
    `.${basename(target)}.peftjs-${process.pid}-${randomBytes(4).toString("hex")}`,
  );
  await mkdir(dirname(target), { recursive: true });
  await mkdir(temporary);
  try {
    await write(temporary);
    if (existing !== null) await rmdir(target);
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { recursive: true, force: true });
    throw error;
  }
  return target;
}
