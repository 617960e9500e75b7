import { defineConfig } from "tsup";

export default defineConfig({
  // Two entries sharing one chunk, so the node entry throws the very error classes of the main one.
  entry: { index: "src/index.ts", node: "src/node.ts" },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
  target: "es2022",
  // Neutral keeps the main entry browser-safe; the node entry's `node:` builtins stay external imports.
  platform: "neutral",
  external: [/^node:/],
  removeNodeProtocol: false,
});
