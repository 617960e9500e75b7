// Preloaded into the command line's process by fine-tune.mjs (`node --require`): on exit, writes the process's
// peak resident set size (getrusage's ru_maxrss, in KiB; workers and wasm memory included) to the file
// PEFTJS_BENCH_MAX_RSS_FILE names, so the benchmark reads the CLI's own peak rather than its parent's.
// Worker threads inherit the preload; only the main thread writes (its exit is the process's end).
const { writeFileSync } = require("node:fs");
const { isMainThread } = require("node:worker_threads");

const file = process.env.PEFTJS_BENCH_MAX_RSS_FILE;
if (isMainThread && file !== undefined && file !== "") {
  process.on("exit", () => {
    writeFileSync(file, JSON.stringify({ maxRssKilobytes: process.resourceUsage().maxRSS }));
  });
}
