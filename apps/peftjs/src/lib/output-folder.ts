import { randomBytes } from "node:crypto";
import { link, mkdir, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { trackTemporaryPath } from "@peftjs/io/node";
import { CliUsageError } from "../cli-error.js";

/**
 * Every output of the command line is written into a hidden temporary folder beside its target,
 * `.NAME.peftjs-PID-RANDOM`, and moved into place only when complete: a failed or interrupted command leaves
 * nothing at the target. SIGINT/SIGTERM/SIGHUP during the write remove the temporary folder (`@peftjs/io`'s
 * temporary-path registry); one left by a process that died otherwise (SIGKILL, power loss) is removed by the
 * next write of the same target once that process is gone. Nothing that exists at the target is overwritten.
 */

const temporaryPattern = /^\.(.*)\.peftjs-(\d+)-[0-9a-f]{8}(?:-old)?$/;

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/** Removes the temporary folders of `target` left by peftjs processes that no longer exist. */
export async function sweepAbandonedTemporaries(target: string): Promise<string[]> {
  const folder = dirname(target);
  const name = basename(target);
  const removed: string[] = [];
  const entries = await readdir(folder).catch(() => [] as string[]);
  for (const entry of entries) {
    const match = temporaryPattern.exec(entry);
    if (match === null || match[1] !== name) continue;
    const pid = Number(match[2]);
    if (pid === process.pid || processIsAlive(pid)) continue;
    await rm(join(folder, entry), { recursive: true, force: true });
    removed.push(join(folder, entry));
  }
  return removed;
}

/** Runs `write` on a fresh temporary folder beside `target`, then `place` moves the result into position. */
async function withTemporaryFolder<T>(
  target: string,
  write: (folder: string) => Promise<void>,
  place: (folder: string) => Promise<T>,
): Promise<T> {
  await mkdir(dirname(target), { recursive: true });
  await sweepAbandonedTemporaries(target);
  const temporary = join(
    dirname(target),
    `.${basename(target)}.peftjs-${process.pid}-${randomBytes(4).toString("hex")}`,
  );
  // Registered before it exists, so a signal at any moment after this finds it (removing a path that does
  // not exist yet is a no-op).
  const release = trackTemporaryPath(temporary);
  try {
    await mkdir(temporary);
    await write(temporary);
    return await place(temporary);
  } finally {
    await rm(temporary, { recursive: true, force: true });
    release();
  }
}

/**
 * Writes an output folder all at once: `write` fills a temporary folder that is renamed to `outDir` only
 * when it succeeded. An existing `outDir` must be empty (`replace` may allow replacing a non-empty one: it
 * is then moved aside and removed only after the new folder is in place). `flag` names the flag in
 * messages (default `out`).
 */
export async function writeOutputFolder(
  outDir: string,
  write: (folder: string) => Promise<void>,
  options: { flag?: string; replace?: (folder: string) => Promise<boolean> } = {},
): Promise<string> {
  const flag = options.flag ?? "out";
  const target = resolve(outDir);
  return withTemporaryFolder(target, write, async (temporary) => {
    try {
      await rename(temporary, target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOTEMPTY" || code === "EEXIST") {
        if (options.replace !== undefined && (await options.replace(target))) {
          const aside = `${temporary}-old`;
          await rename(target, aside);
          await rename(temporary, target);
          await rm(aside, { recursive: true, force: true });
          return target;
        }
        throw new CliUsageError(
          `--${flag} ${outDir} already exists and is not empty; peftjs never overwrites: remove it or choose another folder`,
        );
      }
      if (code === "ENOTDIR") throw new CliUsageError(`--${flag} ${outDir} exists and is not a folder`);
      throw error;
    }
    return target;
  });
}

/**
 * Writes an output file all at once: `write` creates it at the path it is given (inside a temporary folder);
 * it is then hard-linked to `path`, which fails rather than replace a file that appeared meanwhile. Parent
 * folders are created as for output folders.
 */
export async function writeOutputFile(
  path: string,
  write: (temporaryPath: string) => Promise<void>,
  options: { flag?: string } = {},
): Promise<string> {
  const flag = options.flag ?? "out";
  const target = resolve(path);
  const inside = (folder: string) => join(folder, basename(target));
  return withTemporaryFolder(
    target,
    (folder) => write(inside(folder)),
    async (folder) => {
      try {
        await link(inside(folder), target);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EEXIST") {
          throw new CliUsageError(
            `--${flag} ${path} already exists; peftjs never overwrites a file: remove it or choose another path`,
          );
        }
        if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EXDEV") throw error;
        // A file system without hard links: rename, which replaces only a file created since the check.
        await rename(inside(folder), target);
      }
      return target;
    },
  );
}
