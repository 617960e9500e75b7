import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // A hang guard, not a speed check: each test spawns the built CLI, and under a load average of ~35 on two
    // cores the six-step demo took over 60 s while doing nothing wrong.
    testTimeout: 300_000,
  },
});
