/**
 * The changelog page, from changesets: every package's `CHANGELOG.md` (written by `changeset version` at a
 * release) and the changesets still pending in `.changeset/` (what the next release will say). Written to
 * `generated/changelog.md`, which `changelog.md` includes.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { repositoryRoot, workspacePackages } from "./workspace-packages.mjs";

/** A pending changeset: `{ packages: { name: bump }, summary }` from its front matter and body. */
export function parseChangeset(text) {
  const match = /^---\n([\s\S]*?)\n---\n?([\s\S]*)$/.exec(text.replaceAll("\r\n", "\n"));
  if (match === null) throw new Error(`not a changeset (no front matter):\n${text}`);
  const packages = {};
  for (const line of match[1].split("\n")) {
    const entry = /^\s*["']?([^"':]+)["']?\s*:\s*(major|minor|patch)\s*$/.exec(line);
    if (entry !== null) packages[entry[1]] = entry[2];
  }
  return { packages, summary: match[2].trim() };
}

export async function generateChangelog(docsRoot) {
  const packages = await workspacePackages();
  const folder = `${repositoryRoot}.changeset/`;
  const pending = [];
  for (const file of (await readdir(folder))
    .filter((name) => name.endsWith(".md") && name !== "README.md")
    .sort()) {
    pending.push(parseChangeset(await readFile(`${folder}${file}`, "utf8")));
  }
  const lines = ["## Versions", "", "| package | version |", "| --- | --- |"];
  for (const pkg of packages) lines.push(`| \`${pkg.name}\` | ${pkg.version} |`);
  lines.push("", "## Unreleased", "");
  if (pending.length === 0) lines.push("No pending changesets.");
  for (const changeset of pending) {
    const bumps = Object.entries(changeset.packages).map(([name, bump]) => `\`${name}\` ${bump}`);
    lines.push(`- ${changeset.summary.split("\n").join("\n  ")} (${bumps.join(", ")})`);
  }
  for (const pkg of packages) {
    const file = `${repositoryRoot}packages/${pkg.folder}/CHANGELOG.md`;
    if (!existsSync(file)) continue;
    const text = (await readFile(file, "utf8")).replace(/^# .*\n/, "");
    lines.push("", `## ${pkg.name}`, "", text.replace(/^## /gm, "### ").trim());
  }
  await mkdir(`${docsRoot}generated`, { recursive: true });
  await writeFile(`${docsRoot}generated/changelog.md`, `${lines.join("\n")}\n`);
  return { version: packages[0]?.version ?? "0.0.0", pending: pending.length };
}
