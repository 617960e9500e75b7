import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { buildPage } from "@peftjs/browser-testing";

const packageRoot = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Bundles `gpu-page/` against the package's built `dist` (run `pnpm build` first): `@peftjs/tensor` and
 * `@peftjs/tensor/testing` are the published entry points, gpu.js resolves to its browser bundle.
 */
export async function buildGpuPage(): Promise<string> {
  const distIndex = `${packageRoot}dist/index.js`;
  if (!existsSync(distIndex))
    throw new Error(`${distIndex} is missing: run \`pnpm build\` in packages/tensor first`);
  return buildPage({
    root: fileURLToPath(new URL("./gpu-page/", import.meta.url)),
    alias: {
      "@peftjs/tensor/testing": `${packageRoot}dist/testing.js`,
      "@peftjs/tensor": `${packageRoot}dist/index.js`,
    },
  });
}
