/**
 * The published library packages of the workspace and their entry points, read from each `packages/<name>/
 * package.json` (its `exports` map), so the reference follows the packages as they are, with no list to keep.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

export const repositoryRoot = fileURLToPath(new URL("../../", import.meta.url));
/** Where source links point. */
export const repositoryUrl = "https://github.com/peftjs/peftjs";
export const sourceBranch = "main";

/**
 * @typedef {object} PackageEntry
 * @property {string} subpath the exports key without "./" ("" for the main entry, "node", "testing", …)
 * @property {string} importPath what users import, e.g. "@peftjs/adapters/node"
 * @property {string} declarations absolute path of the built declaration file (dist/*.d.ts)
 * @property {string} source absolute path of the source entry (src/<file>.ts) the declaration file is built from
 *
 * @typedef {object} WorkspacePackage
 * @property {string} folder e.g. "adapters"
 * @property {string} name e.g. "@peftjs/adapters"
 * @property {string} version
 * @property {string} description
 * @property {PackageEntry[]} entries
 */

/** @returns {Promise<WorkspacePackage[]>} every non-private package under packages/, in dependency order. */
export async function workspacePackages() {
  const folders = (await readdir(`${repositoryRoot}packages`, { withFileTypes: true }))
    .filter(
      (entry) => entry.isDirectory() && existsSync(`${repositoryRoot}packages/${entry.name}/package.json`),
    )
    .map((entry) => entry.name);
  const packages = [];
  for (const folder of folders) {
    const root = `${repositoryRoot}packages/${folder}/`;
    const manifest = JSON.parse(await readFile(`${root}package.json`, "utf8"));
    if (manifest.private) continue;
    const entries = [];
    for (const [key, target] of Object.entries(manifest.exports ?? {})) {
      const types = target?.import?.types ?? target?.types;
      if (typeof types !== "string" || !types.endsWith(".d.ts")) continue;
      const subpath = key === "." ? "" : key.replace(/^\.\//, "");
      const file = types.replace(/^\.\/dist\//, "").replace(/\.d\.ts$/, "");
      entries.push({
        subpath,
        importPath: subpath === "" ? manifest.name : `${manifest.name}/${subpath}`,
        declarations: `${root}${types.replace(/^\.\//, "")}`,
        source: `${root}src/${file}.ts`,
      });
    }
    const dependencies = Object.keys(manifest.dependencies ?? {});
    packages.push({
      folder,
      name: manifest.name,
      version: manifest.version,
      description: manifest.description ?? "",
      entries,
      dependencies,
    });
  }
  return dependencyOrder(packages);
}

/** Lower layers first (io before tensor before …), names breaking ties: the order the design card lists. */
function dependencyOrder(packages) {
  const byName = new Map(packages.map((pkg) => [pkg.name, pkg]));
  const depth = new Map();
  const depthOf = (pkg) => {
    if (!depth.has(pkg.name)) {
      depth.set(pkg.name, 0);
      const below = pkg.dependencies.map((name) => byName.get(name)).filter((dep) => dep !== undefined);
      depth.set(pkg.name, below.length === 0 ? 0 : 1 + Math.max(...below.map(depthOf)));
    }
    return depth.get(pkg.name);
  };
  return [...packages].sort((a, b) => depthOf(a) - depthOf(b) || a.name.localeCompare(b.name));
}
