import { defineConfig } from "tsup";

export default defineConfig({
  // Two entries sharing one copy of the classes (splitting, also for CJS): `loadModel` from the node entry
  // returns the very classes (`LlamaForCausalLM`, …) of the main one, so `instanceof` holds in ESM and CommonJS.
  entry: ["src/index.ts", "src/node.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
  target: "es2022",
  platform: "neutral",
  external: [/^node:/],
});
