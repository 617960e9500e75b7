import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", testing: "src/testing/index.ts" },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  platform: "neutral",
  // Both entries share one engine and backend registry: shared chunks, never duplicated module state.
  splitting: true,
  // gpu.js is an optional peer dependency, imported lazily by the gpu backend only: never bundled.
  external: ["gpu.js"],
});
