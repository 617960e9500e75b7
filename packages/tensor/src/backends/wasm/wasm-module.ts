/**
 * Loading the embedded kernel binaries: feature detection (SIMD, relaxed SIMD, shared memory) and
 * compilation of the variant that fits the engine.
 */
import {
  plainKernelsBase64,
  plainSharedFlagOffset,
  relaxedKernelsBase64,
  relaxedSharedFlagOffset,
  relaxedSimdProbeBase64,
  simdProbeBase64,
} from "./generated/kernels-binary.js";

/** Memory-limits flag of an imported memory with a maximum, unshared (the binaries embed 0x03, shared). */
const unsharedMemoryFlag = 0x01;

/** Decodes base64 with the `atob` that Node ≥ 16 and every browser provide. */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

function validates(base64: string): boolean {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(decodeBase64(base64));
  } catch {
    return false;
  }
}

/** True when the engine validates fixed-width (128-bit) WebAssembly SIMD. */
export function simdSupported(): boolean {
  return validates(simdProbeBase64);
}

/** True when the engine validates `f32x4.relaxed_madd` (browsers; Node ≥ 22, or 20 with `--experimental-wasm-relaxed-simd`). */
export function relaxedSimdSupported(): boolean {
  return validates(relaxedSimdProbeBase64);
}

/**
 * True when a shared `WebAssembly.Memory` can be created and handed to workers: Node, or a browser page that is
 * cross-origin isolated.
 */
export function sharedMemorySupported(): boolean {
  if (typeof SharedArrayBuffer === "undefined") return false;
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  if (isolated === false) return false;
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

/** Which variant of the kernels to compile. */
export interface KernelVariant {
  /** Use `f32x4.relaxed_madd` in the GEMM micro-kernel (requires {@link relaxedSimdSupported}). */
  readonly relaxed: boolean;
  /** Import a shared memory (threads); otherwise an ordinary one. */
  readonly shared: boolean;
}

/** The kernel binary for a variant (the unshared one is the shared binary with its memory flag patched). */
export function kernelBinary(variant: KernelVariant): Uint8Array<ArrayBuffer> {
  const bytes = decodeBase64(variant.relaxed ? relaxedKernelsBase64 : plainKernelsBase64);
  if (!variant.shared)
    bytes[variant.relaxed ? relaxedSharedFlagOffset : plainSharedFlagOffset] = unsharedMemoryFlag;
  return bytes;
}

/** Compiles the kernels of a variant. */
export function compileKernels(variant: KernelVariant): Promise<WebAssembly.Module> {
  return WebAssembly.compile(kernelBinary(variant));
}

/** The functions the kernel module exports (pointers are byte offsets, counts are elements). */
export interface KernelExports {
  gemm(
    m: number,
    n: number,
    k: number,
    a: number,
    lda: number,
    transposeA: number,
    b: number,
    ldb: number,
    transposeB: number,
    c: number,
    ldc: number,
    aType: number,
    bType: number,
    work: number,
  ): void;
  /** Runs the job record at `job` (see `thread-pool.ts`) with the thread's work area. */
  runJob(job: number, work: number): void;
  stridedCopy(
    source: number,
    target: number,
    bytes: number,
    e0: number,
    e1: number,
    e2: number,
    e3: number,
    s0: number,
    s1: number,
    s2: number,
    s3: number,
  ): void;
  copyRows(
    source: number,
    sourceStride: number,
    target: number,
    targetStride: number,
    rows: number,
    rowBytes: number,
  ): void;
  gatherRows(table: number, indices: number, count: number, rowBytes: number, target: number): void;
  argmaxRows(input: number, output: number, rows: number, columns: number): void;
  widenBfloat16(input: number, output: number, n: number): void;
  widenFloat16(input: number, output: number, n: number): void;
  narrowBfloat16(input: number, output: number, n: number): void;
  narrowFloat16(input: number, output: number, n: number): void;
  addSame(a: number, b: number, out: number, n: number): void;
  subSame(a: number, b: number, out: number, n: number): void;
  mulSame(a: number, b: number, out: number, n: number): void;
  divSame(a: number, b: number, out: number, n: number): void;
  addScalar(a: number, scalar: number, out: number, n: number): void;
  subScalar(a: number, scalar: number, out: number, n: number): void;
  mulScalar(a: number, scalar: number, out: number, n: number): void;
  divScalar(a: number, scalar: number, out: number, n: number): void;
  addRow(a: number, row: number, out: number, rows: number, columns: number): void;
  subRow(a: number, row: number, out: number, rows: number, columns: number): void;
  mulRow(a: number, row: number, out: number, rows: number, columns: number): void;
  divRow(a: number, row: number, out: number, rows: number, columns: number): void;
  scale(a: number, factor: number, out: number, n: number): void;
  axpy(x: number, y: number, alpha: number, out: number, n: number): void;
  neg(a: number, out: number, n: number): void;
  sqrt(a: number, out: number, n: number): void;
  clamp(a: number, low: number, high: number, out: number, n: number): void;
  exp(a: number, out: number, n: number): void;
  log(a: number, out: number, n: number): void;
  sigmoid(a: number, out: number, n: number): void;
  silu(a: number, out: number, n: number): void;
  softmax(a: number, out: number, rows: number, columns: number): void;
  rmsNorm(x: number, weight: number, out: number, rows: number, columns: number, epsilon: number): void;
  frobeniusNorm(a: number, n: number): number;
  sumMiddle(a: number, out: number, outer: number, reduced: number, inner: number, scratch: number): void;
  maxMiddle(a: number, out: number, outer: number, reduced: number, inner: number): void;
}

/** Instantiates the kernels on a memory (synchronously: the module is already compiled). */
export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}
