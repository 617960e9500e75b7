import { defineConfig } from "tsup";

export default defineConfig({
  // Two entries built together so they share one chunk: errors thrown by `@peftjs/io/node` are the very
  // classes exported by `@peftjs/io` (instanceof works across the entries).
  entry: { index: "src/index.ts", node: "src/node.ts" },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
  target: "es2022",
  // Neutral, so the main entry stays browser-safe; the node entry's builtins use `node:` specifiers and stay
  // external imports.
  platform: "neutral",
  external: [/^node:/],
  removeNodeProtocol: false,
});
