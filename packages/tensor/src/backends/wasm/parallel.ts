/**
 * How the wasm backend splits a kernel's work across its threads: ranges of rows (row kernels) or of elements
 * (maps), two per thread so that a thread the OS schedules less takes fewer; work below a threshold stays on the
 * calling thread, where waking workers would cost more than it saves.
 */
import type { Job } from "./thread-pool.js";
import type { WasmBackend } from "./wasm-backend.js";

/** Below this many elements a kernel stays on the calling thread (waking workers costs tens of microseconds). */
export const parallelElements = 1 << 15;

/** Ranges per thread: more than one, so that threads claim work dynamically. */
const rangesPerThread = 2;

/**
 * Runs a row kernel over `rows` rows of `columns` elements: one job, or ranges of rows across threads when the
 * work is large enough; `job(first, count)` builds the job of a range.
 */
export function runRows(
  backend: WasmBackend,
  rows: number,
  columns: number,
  job: (first: number, count: number) => Job,
): void {
  if (rows === 0) return;
  const parts =
    backend.threadCount > 1 && rows * columns >= parallelElements
      ? Math.min(rows, backend.threadCount * rangesPerThread)
      : 1;
  const share = Math.ceil(rows / parts);
  const jobs: Job[] = [];
  for (let first = 0; first < rows; first += share) jobs.push(job(first, Math.min(share, rows - first)));
  backend.runJobs(jobs);
}

/**
 * Runs an elementwise kernel over `n` elements, in ranges (multiples of 16 elements: whole cache lines) across
 * threads when large; `job(offset, count)` builds the job of a range.
 */
export function runElements(
  backend: WasmBackend,
  n: number,
  job: (offset: number, count: number) => Job,
): void {
  if (n === 0) return;
  const parts = backend.threadCount > 1 && n >= parallelElements ? backend.threadCount * rangesPerThread : 1;
  const share = Math.ceil(n / parts / 16) * 16;
  const jobs: Job[] = [];
  for (let offset = 0; offset < n; offset += share) jobs.push(job(offset, Math.min(share, n - offset)));
  backend.runJobs(jobs);
}
