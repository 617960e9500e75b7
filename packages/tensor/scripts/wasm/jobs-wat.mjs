// The job dispatcher: `runJob(job, work)` reads a job record from linear memory and calls the kernel it names,
// so that the thread pool's workers run any kernel without knowing its signature. A record is JOB_SLOTS 32-bit
// slots (64 bytes, one cache line): slot 0 the kind, slots 1.. the arguments (i32, or the bits of an f32), in
// the order of the kernel's parameters; a kernel that takes the thread's work area gets it last.

/** 32-bit slots per job record. */
export const JOB_SLOTS = 16;

/**
 * The WebAssembly text of `runJob` for `kinds`: `[{name, call, parameters: ["i32" | "f32", ...], work}]`, the
 * kind code being the position in the list.
 */
export function jobsWat(kinds) {
  for (const kind of kinds) {
    if (kind.parameters.length > JOB_SLOTS - 1) throw new Error(`job ${kind.name} has too many parameters`);
  }
  const labels = kinds.map((_, index) => `$kind${index}`);
  let text = `(br_table ${labels.join(" ")} $done (i32.load (local.get $job)))`;
  kinds.forEach((kind, index) => {
    const argumentsText = kind.parameters
      .map((type, slot) => `(${type}.load offset=${4 * (slot + 1)} (local.get $job))`)
      .join(" ");
    text = `(block ${labels[index]} ${text})
    ;; ${kind.name}
    (call ${kind.call} ${argumentsText}${kind.work ? " (local.get $work)" : ""})
    (br $done)`;
  });
  return `
(func $runJob (export "runJob") (param $job i32) (param $work i32)
  (block $done
    ${text}))`;
}
