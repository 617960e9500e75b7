import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The site test builds the whole site and drives Chromium; the sample test trains tiny models.
    testTimeout: 240_000,
    hookTimeout: 240_000,
    // One file at a time: both files are CPU-heavy and the machine has 2 cores.
    fileParallelism: false,
  },
});
