import { defineConfig } from "tsup";

export default defineConfig({
  // Entries sharing one copy of the classes (splitting, also for CJS): `loadModel` from the node entry
  // returns the very classes (`LlamaForCausalLM`, …) of the main one, so `instanceof` holds in ESM and CommonJS.
  // `testing` holds the helpers the tests of this package and of @peftjs/adapters share.
  entry: ["src/index.ts", "src/node.ts", "src/testing.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
  target: "es2022",
  platform: "neutral",
  external: [/^node:/],
});
