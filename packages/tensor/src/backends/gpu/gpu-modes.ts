/**
 * gpu.js modes and which of them count as a GPU.
 *
 * gpu.js 2.24.1 knows these modes (`GPU.mode` after construction): `headlessgl` (Node with the `gl` package),
 * `webgl2`, `webgl`, `webgpu` (explicit opt-in only: `new GPU({mode: "webgpu"})`; never picked automatically),
 * and the software modes `webasm` (its WebAssembly translator, picked automatically when no GL context exists)
 * and `cpu` (plain JavaScript).
 */

/** gpu.js modes that run kernels on a graphics device. */
export const gpuModes = ["webgpu", "webgl2", "webgl", "headlessgl"] as const;

/** A gpu.js mode that runs on a graphics device. */
export type GpuMode = (typeof gpuModes)[number];

/** What the gpu backend may ask gpu.js for: a specific GPU mode, or `"auto"` (best synchronous GL mode). */
export type GpuModeRequest = GpuMode | "auto";

/** True for the modes that count as a real GPU (never `webasm` or `cpu`). */
export function isGpuMode(mode: string): mode is GpuMode {
  return (gpuModes as readonly string[]).includes(mode);
}

/** True when kernel results are read back asynchronously (WebGPU's `mapAsync`); the GL modes read synchronously. */
export function isAsynchronousMode(mode: GpuMode): boolean {
  return mode === "webgpu";
}
