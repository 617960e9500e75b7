import { createHash } from "node:crypto";
import { lstat, readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";

/**
 * A manifest of every file a command wrote into an output folder (relative path, size, SHA-256), so that a
 * later run may replace that folder without ever deleting something it did not create: the folder is
 * replaceable only while it holds exactly the files listed, unchanged. The demo uses it for its output
 * folder, which `npm run demo` writes on every run.
 */
export const MANIFEST_FILE = ".peftjs-manifest.json";

interface Manifest {
  readonly writtenBy: string;
  readonly folders: string[];
  readonly files: Record<string, { size: number; sha256: string }>;
}

/** The files and sub-folders of `folder` (relative, `/`-separated), or null if it holds anything else. */
async function listEntries(folder: string): Promise<{ files: string[]; folders: string[] } | null> {
  const files: string[] = [];
  const folders: string[] = [];
  const walk = async (directory: string): Promise<boolean> => {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      const name = relative(folder, path).split(sep).join("/");
      if (entry.isDirectory()) {
        folders.push(name);
        if (!(await walk(path))) return false;
      } else if (entry.isFile()) files.push(name);
      else return false; // links, sockets, ...: nothing a command writes
    }
    return true;
  };
  return (await walk(folder)) ? { files: files.sort(), folders: folders.sort() } : null;
}

async function sha256(path: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
}

/** Writes the manifest of every file now in `folder` (call it last). */
export async function writeOutputManifest(folder: string, writtenBy: string): Promise<void> {
  const entries = (await listEntries(folder)) ?? { files: [], folders: [] };
  const manifest: Manifest = { writtenBy, folders: entries.folders, files: {} };
  for (const file of entries.files) {
    const path = join(folder, file);
    manifest.files[file] = { size: (await lstat(path)).size, sha256: await sha256(path) };
  }
  await writeFile(join(folder, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * True when `folder` holds exactly what a run of `writtenBy` wrote there, unchanged: its manifest lists every
 * file (and nothing else is there), with the same sizes and contents.
 */
export async function holdsOnlyOwnOutput(folder: string, writtenBy: string): Promise<boolean> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(folder, MANIFEST_FILE), "utf8")) as Manifest;
  } catch {
    return false;
  }
  if (
    manifest?.writtenBy !== writtenBy ||
    typeof manifest.files !== "object" ||
    manifest.files === null ||
    !Array.isArray(manifest.folders)
  ) {
    return false;
  }
  const entries = await listEntries(folder);
  if (entries === null) return false;
  const listed = Object.keys(manifest.files).sort();
  const present = entries.files.filter((file) => file !== MANIFEST_FILE);
  if (JSON.stringify(listed) !== JSON.stringify(present)) return false;
  if (JSON.stringify([...manifest.folders].sort()) !== JSON.stringify(entries.folders)) return false;
  for (const file of present) {
    const expected = manifest.files[file]!;
    const path = join(folder, file);
    if ((await lstat(path)).size !== expected.size || (await sha256(path)) !== expected.sha256) return false;
  }
  return true;
}
