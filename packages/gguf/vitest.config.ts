import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 120_000,
    // The llama.cpp tests export their models and vocabularies (Qwen3's: 151,669 tokens) in beforeAll; on a
    // loaded two-core machine that takes more than vitest's default 10 s.
    hookTimeout: 120_000,
  },
});
