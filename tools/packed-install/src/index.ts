/**
 * `@peftjs/packed-install` (private, test-only): the packages as a user gets them. {@link packPackages} packs
 * every publishable package with `scripts/pack-packages.mjs`; {@link createPackedProject} npm-installs the
 * tarballs (which satisfy each other; third-party dependencies come from npm's cache or the registry) into a
 * fresh project in the system's temporary folder,
 * outside the workspace, so nothing resolves to workspace sources; the project then type-checks files with
 * the workspace's TypeScript (Node's types from the workspace, as a user's `@types/node`) and runs them with
 * Node.
 *
 * ```ts
 * const project = await createPackedProject(await packPackages());
 * await project.writeFile("main.mts", 'import { serialize } from "@peftjs/io"; console.log(serialize({}).length);');
 * project.compile(["main.mts"]); // type-checks and emits main.mjs; throws with tsc's diagnostics
 * await project.run("main.mjs"); // node main.mjs in the project; rejects on a non-zero exit
 * await project.dispose();
 * ```
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export { type CodeBlock, extractCodeBlocks } from "./markdown.js";

/** The workspace root (this file is tools/packed-install/src/index.ts). */
export const workspaceRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** One packed package. */
export interface PackedPackage {
  readonly name: string;
  readonly version: string;
  /** Its folder in the workspace. */
  readonly folder: string;
  /** The `.tgz` file. */
  readonly tarball: string;
}

/**
 * Packs every publishable package (built beforehand: the tarballs hold `dist/`) into `outDir` (default a new
 * temporary folder), as `pnpm pack-packages --out DIR` does.
 */
export async function packPackages(outDir?: string): Promise<PackedPackage[]> {
  const out = outDir ?? (await mkdtemp(join(tmpdir(), "peftjs-packed-")));
  const json = execFileSync(
    process.execPath,
    [join(workspaceRoot, "scripts", "pack-packages.mjs"), "--out", out, "--json"],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  return JSON.parse(json) as PackedPackage[];
}

/** What running a command in the project gave. */
export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Compiler options of {@link PackedProject.typecheck} (tsc's JSON spelling). */
export type CompilerOptions = Record<string, unknown>;

/** A fresh npm project with the packed packages installed. */
export interface PackedProject {
  /** The project folder (outside the workspace). */
  readonly directory: string;
  /** Writes a file relative to the project. */
  writeFile(path: string, text: string): Promise<void>;
  /** Runs an executable in the project folder (e.g. `npx`, `node`). */
  exec(command: string, args: readonly string[]): RunResult;
  /**
   * Type-checks files of the project with the workspace's TypeScript (strict, `module`/`moduleResolution`
   * `nodenext` unless `options` says otherwise, Node's types available) and emits JavaScript beside them
   * (`.ts` → `.js`, `.mts` → `.mjs` ESM, `.cts` → `.cjs` CommonJS) unless `options.noEmit`. Throws with the
   * diagnostics.
   */
  compile(files: readonly string[], options?: CompilerOptions): void;
  /**
   * Runs a JavaScript file with Node in the project folder (asynchronously, so a server in this process can
   * answer it); rejects when it exits non-zero, with its output.
   */
  run(file: string, env?: Record<string, string>): Promise<RunResult>;
  /** Removes the project folder. */
  dispose(): Promise<void>;
}

const require = createRequire(import.meta.url);
/** The workspace's TypeScript compiler and Node type declarations, used in the project as a user's would be. */
const tscPath = require.resolve("typescript/bin/tsc");
const nodeTypesRoot = join(dirname(require.resolve("@types/node/package.json")), "..");

function tsc(directory: string, args: readonly string[]): void {
  const result = spawnSync(process.execPath, [tscPath, ...args], { cwd: directory, encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`tsc ${args.join(" ")} failed in ${directory}:\n${result.stdout}${result.stderr}`);
  }
}

/**
 * Creates a project in a new temporary folder (`package.json` with `type`, default `module`) and installs the
 * given tarballs into it with `npm install --prefer-offline` (third-party dependencies from npm's cache or
 * the registry).
 */
export async function createPackedProject(
  packages: readonly PackedPackage[],
  options: { type?: "module" | "commonjs" } = {},
): Promise<PackedProject> {
  const directory = await mkdtemp(join(tmpdir(), "peftjs-packed-project-"));
  await writeFile(
    join(directory, "package.json"),
    JSON.stringify({ name: "packed-project", private: true, type: options.type ?? "module" }, null, 2),
  );
  const install = spawnSync(
    "npm",
    [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      "--loglevel=error",
      ...packages.map((entry) => entry.tarball),
    ],
    { cwd: directory, encoding: "utf8" },
  );
  if (install.status !== 0) throw new Error(`npm install failed:\n${install.stdout}${install.stderr}`);
  const project: PackedProject = {
    directory,
    writeFile: (path, text) => writeFile(join(directory, path), text),
    exec(command, args) {
      const result = spawnSync(command, args, { cwd: directory, encoding: "utf8", maxBuffer: 1 << 28 });
      return { code: result.status, stdout: result.stdout, stderr: result.stderr };
    },
    compile(files, compilerOptions = {}) {
      const flags = {
        strict: true,
        skipLibCheck: false,
        target: "es2022",
        module: "nodenext",
        moduleResolution: "nodenext",
        types: ["node"],
        typeRoots: [nodeTypesRoot],
        outDir: ".",
        ...compilerOptions,
      };
      const args = Object.entries(flags).flatMap(([flag, value]) =>
        Array.isArray(value) ? [`--${flag}`, value.join(",")] : [`--${flag}`, String(value)],
      );
      tsc(directory, [...args, ...files]);
    },
    run(file, env = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [file], { cwd: directory, env: { ...process.env, ...env } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString();
        });
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        child.on("error", reject);
        child.on("close", (code, signal) => {
          if (code === 0) resolve({ code, stdout, stderr });
          else reject(new Error(`${file} exited with ${code ?? signal}:\n${stdout}${stderr}`));
        });
      });
    },
    dispose: () => rm(directory, { recursive: true, force: true }),
  };
  return project;
}
