#!/usr/bin/env node
// Builds the wasm backend's kernels: generates the WebAssembly text (GEMM + elementwise), compiles it with wabt
// in two variants (plain SIMD mul+add, and relaxed SIMD `f32x4.relaxed_madd`), and writes
// src/backends/wasm/generated/kernels-binary.ts, which embeds both binaries as base64 so that the package loads
// them in Node and in browsers without any file access. The text of the plain variant is written next to it
// (kernels.wat) for reading. Output is deterministic: a rebuild of unchanged sources changes no byte.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { elementwiseWat } from "./wasm/elementwise-wat.mjs";
import { fusedJobKinds, fusedWat } from "./wasm/fused-wat.mjs";
import { GEMM_WORK_BYTES, gemmWat, KC, MC, MR, NC, NR, PREPACKED_B } from "./wasm/gemm-wat.mjs";
import { GEMV_MAX_ROWS, gemvWat } from "./wasm/gemv-wat.mjs";
import { halfConversionWat } from "./wasm/half-wat.mjs";
import { JOB_SLOTS, jobsWat } from "./wasm/jobs-wat.mjs";

/**
 * The kernels the thread pool can run, by job kind (the position here): the export each calls, its parameter
 * types, and whether it takes the thread's work area last.
 */
const jobKinds = [
  { name: "gemm", call: "$gemm", parameters: Array(13).fill("i32"), work: true },
  { name: "packPanels", call: "$packPanels", parameters: Array(8).fill("i32"), work: false },
  { name: "gemv", call: "$gemv", parameters: Array(11).fill("i32"), work: false },
  ...fusedJobKinds,
  // Elementwise maps, so that a large one runs on every thread (ranges of elements, or of rows for *Row).
  ...["add", "sub", "mul", "div"].flatMap((operation) => [
    { name: `${operation}Same`, call: `$${operation}Same`, parameters: Array(4).fill("i32"), work: false },
    {
      name: `${operation}Scalar`,
      call: `$${operation}Scalar`,
      parameters: ["i32", "f32", "i32", "i32"],
      work: false,
    },
    { name: `${operation}Row`, call: `$${operation}Row`, parameters: Array(5).fill("i32"), work: false },
  ]),
  ...["neg", "sqrt", "exp", "log", "sigmoid", "silu"].map((operation) => ({
    name: operation,
    call: `$${operation}`,
    parameters: Array(3).fill("i32"),
    work: false,
  })),
];

const require = createRequire(import.meta.url);
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
const outputFolder = join(packageRoot, "src", "backends", "wasm", "generated");

/** The whole module: imports a memory (shared when the host supports threads), exports every kernel. */
function moduleText({ relaxed, shared }) {
  return `(module
(import "env" "memory" (memory 1 65536${shared ? " shared" : ""}))
${gemmWat({ relaxed })}
${elementwiseWat()}
${halfConversionWat()}
${gemvWat()}
${fusedWat()}
${jobsWat(jobKinds)}
)`;
}

function compile(wabt, text, name) {
  const features = { simd: true, threads: true, relaxed_simd: true, bulk_memory: true };
  const parsed = wabt.parseWat(`${name}.wat`, text, features);
  try {
    parsed.resolveNames();
    parsed.validate(features);
    return Buffer.from(parsed.toBinary({ log: false, write_debug_names: false }).buffer);
  } finally {
    parsed.destroy();
  }
}

/**
 * The offset of the memory-limits flag byte of the imported memory: the shared and the unshared binary differ
 * in exactly that byte (0x03 = has maximum + shared, 0x01 = has maximum). The runtime patches it to load the
 * unshared variant where SharedArrayBuffer is unavailable (a browser page that is not cross-origin isolated).
 */
function sharedFlagOffset(shared, unshared) {
  if (shared.length !== unshared.length) throw new Error("shared and unshared binaries differ in length");
  const differences = [];
  for (let index = 0; index < shared.length; index++)
    if (shared[index] !== unshared[index]) differences.push(index);
  if (differences.length !== 1 || shared[differences[0]] !== 3 || unshared[differences[0]] !== 1) {
    throw new Error(`expected one differing memory-flag byte, found ${differences.length}`);
  }
  return differences[0];
}

const wabt = await require("wabt")();
const plainText = moduleText({ relaxed: false, shared: true });
const plain = compile(wabt, plainText, "kernels");
const relaxed = compile(wabt, moduleText({ relaxed: true, shared: true }), "kernels-relaxed");
const flagOffset = sharedFlagOffset(
  plain,
  compile(wabt, moduleText({ relaxed: false, shared: false }), "unshared"),
);
const relaxedFlagOffset = sharedFlagOffset(
  relaxed,
  compile(wabt, moduleText({ relaxed: true, shared: false }), "unshared-relaxed"),
);

// Feature probes: the smallest modules that use a v128 value and `f32x4.relaxed_madd`.
const simdProbe = compile(wabt, "(module (func (result v128) (v128.const i32x4 0 0 0 0)))", "simd-probe");
const relaxedProbe = compile(
  wabt,
  "(module (func (param v128) (result v128) (f32x4.relaxed_madd (local.get 0) (local.get 0) (local.get 0))))",
  "relaxed-probe",
);

const source = `// Generated by scripts/build-wasm.mjs from scripts/wasm/*.mjs. Do not edit; run \`pnpm build\`.

/** The wasm kernels, plain SIMD (mul + add), shared memory import; base64. */
export const plainKernelsBase64 =
  "${plain.toString("base64")}";

/** The wasm kernels with \`f32x4.relaxed_madd\`, shared memory import; base64. */
export const relaxedKernelsBase64 =
  "${relaxed.toString("base64")}";

/** Byte offset of the memory-limits flag (0x03 shared, patch to 0x01 for unshared) in the plain binary. */
export const plainSharedFlagOffset = ${flagOffset};

/** Byte offset of the memory-limits flag in the relaxed binary. */
export const relaxedSharedFlagOffset = ${relaxedFlagOffset};

/** A minimal module using SIMD: \`WebAssembly.validate\` accepts it where fixed-width SIMD is supported. */
export const simdProbeBase64 = "${simdProbe.toString("base64")}";

/** A minimal module using \`f32x4.relaxed_madd\`: validates where relaxed SIMD is enabled. */
export const relaxedSimdProbeBase64 = "${relaxedProbe.toString("base64")}";

/** Bytes of per-thread scratch that the \`gemm\` export needs (packed panels and an edge tile). */
export const gemmWorkBytes = ${GEMM_WORK_BYTES};

/** 32-bit slots of one job record of \`runJob\` (slot 0 the kind, then the arguments). */
export const jobSlots = ${JOB_SLOTS};

/** Job kinds of \`runJob\`, by kernel name. */
export const jobKinds = {
${jobKinds.map((kind, index) => `  ${kind.name}: ${index},`).join("\n")}
} as const;

/** GEMM blocking parameters, for documentation and work partitioning. */
export const gemmBlocking = { mr: ${MR}, nr: ${NR}, kc: ${KC}, mc: ${MC}, nc: ${NC} } as const;

/** Most rows of A the matrix-vector kernels (\`gemv\`) take. */
export const gemvMaxRows = ${GEMV_MAX_ROWS};

/** \`transB\` value of the \`gemm\` export for a B packed whole beforehand by \`packPanels\`. */
export const prepackedB = ${PREPACKED_B};
`;

mkdirSync(outputFolder, { recursive: true });
const target = join(outputFolder, "kernels-binary.ts");
let previous = "";
try {
  previous = readFileSync(target, "utf8");
} catch {
  // first build
}
if (previous !== source) writeFileSync(target, source);
writeFileSync(join(outputFolder, "kernels.wat"), `${plainText}\n`);
console.log(
  `build-wasm: ${plain.length} + ${relaxed.length} bytes of WebAssembly -> ${target.slice(packageRoot.length + 1)}`,
);
