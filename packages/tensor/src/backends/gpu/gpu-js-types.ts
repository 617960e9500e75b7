/**
 * The slice of gpu.js's API that the gpu backend uses, typed structurally so that the backend compiles
 * without gpu.js's own declarations and works with any build of gpu.js 2.24 (the Node `src/` entry or the
 * browser UMD bundle) that the caller hands in.
 */

/** Settings passed to `gpu.createKernel`. */
export interface GpuJsKernelSettings {
  readonly output: number[];
  readonly pipeline: boolean;
  readonly immutable: boolean;
  readonly precision: "single";
  readonly dynamicOutput: boolean;
  readonly dynamicArguments: boolean;
  readonly tactic: "precision";
  readonly loopMaxIterations: number;
  readonly strictIntegers: boolean;
}

/** A compiled kernel as gpu.js returns it: callable, resizable. */
export interface GpuJsKernel {
  (...kernelArguments: unknown[]): unknown;
  setOutput(output: number[]): unknown;
}

/** A `GPU` instance. `mode` is the backend gpu.js chose: webgpu, webgl2, webgl, headlessgl, webasm or cpu. */
export interface GpuJsInstance {
  readonly mode: string;
  /** The WebGL context shared by the GL kernels (set once a kernel exists; `null` before and in WebGPU mode). */
  readonly context?: unknown;
  /** The kernel class gpu.js chose; its static `features` include the texture size limit of the GL modes. */
  readonly Kernel?: { readonly features?: { readonly maxTextureSize?: number } } | null;
  createKernel(source: string, settings: GpuJsKernelSettings): GpuJsKernel;
  destroy(): Promise<void>;
}

/** The `GPU` class. */
export interface GpuJsConstructor {
  new (settings?: { mode?: string }): GpuJsInstance;
  /** Present in gpu.js 2.24: resolves whether a WebGPU adapter can actually be obtained. */
  isWebGPUAvailable?(): Promise<boolean>;
}

/** A pipeline result of the WebGL/WebGL2/headless-gl kernels: a texture, read back synchronously. */
export interface GpuJsTexture {
  readonly output: number[];
  toArray(): ArrayLike<number>;
  delete(): void;
}

/** A pipeline result of the WebGPU kernels: a storage buffer, read back asynchronously. */
export interface GpuJsBufferResult {
  readonly output: number[];
  toArray(): Promise<ArrayLike<number>>;
  delete(): void;
}
