// What svdLowRank's time goes into on an n×n matrix (default 4096, q = 16): the four layouts of the
// 4096²-by-16 product on the active backend (interleaved, so load changes hit them alike), the read-back
// of A, and svdLowRank itself. Prints JSON lines {stage, backend, ms, cpuMs} (best wall time of `repeat`
// runs, with its CPU time over all threads). Build first: `pnpm build`. Usage: node bench/low-rank-stages.mjs [n]
import { createGenerator, getBackend, matmul, setBackend } from "@peftjs/tensor";
import { svdLowRank } from "../dist/index.js";

await setBackend("auto");
const n = Number(process.argv[2] ?? 4096);
const q = 16;
const repeat = 5;
const a = createGenerator(1).normal([n, n]);
const tall = createGenerator(2).normal([n, q]);
const wide = createGenerator(3).normal([q, n]);
const stages = {
  "read back A (toFloat32Array)": () => a.toFloat32Array(),
  "A·X (X n×q)": () => matmul(a, tall).dispose(),
  "Aᵀ·X (transposeA)": () => matmul(a, tall, { transposeA: true }).dispose(),
  "Y·A (Y q×n)": () => matmul(wide, a).dispose(),
  "Y·Aᵀ (transposeB)": () => matmul(wide, a, { transposeB: true }).dispose(),
  [`svdLowRank q=${q} niter=4`]: () => svdLowRank(a, q, { niter: 4, seed: 0 }),
};
const best = new Map();
for (let run = 0; run < repeat; run++) {
  for (const [stage, fn] of Object.entries(stages)) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    fn();
    const cpu = process.cpuUsage(cpuStart);
    const ms = performance.now() - start;
    if (!(best.get(stage)?.ms <= ms)) best.set(stage, { ms, cpuMs: (cpu.user + cpu.system) / 1000 });
  }
}
for (const [stage, { ms, cpuMs }] of best) {
  console.log(
    JSON.stringify({
      stage,
      backend: getBackend(),
      size: `${n}x${n}`,
      ms: +ms.toFixed(1),
      cpuMs: +cpuMs.toFixed(1),
    }),
  );
}
