import { defineConfig } from "tsup";

export default defineConfig({
  // Two entries share one copy of the classes (splitting, also for CJS), so `instanceof` holds across them.
  entry: ["src/index.ts", "src/node.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
  target: "es2022",
  platform: "neutral",
});
