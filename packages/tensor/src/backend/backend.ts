/**
 * The contract between the tensor engine and a compute backend (`js`, `wasm`, `gpu`, ...).
 *
 * A backend owns storage (typed arrays, WebAssembly memory, GPU textures) and a table of kernels. The engine
 * (`src/engine/`) validates shapes, computes output shapes, normalises inputs to the simple layouts documented
 * on {@link KernelAttributeMap}, and then calls the kernel with storage handles. Kernels therefore never
 * validate: they may assume their inputs are well formed and that every input lives on their own backend.
 *
 * After `await backend.initialize()`, uploads and kernels are synchronous calls (a GPU backend may queue the
 * work and return a handle at once). Reads are synchronous only where the backend can answer in the same turn
 * ({@link Backend.readsSynchronously}, true unless stated): a backend that can only read asynchronously
 * (gpu.js's WebGPU mode: `mapAsync`) sets it to false and implements {@link Backend.readAsync}; the engine then
 * serves `await tensor.data()` and refuses `dataSync()` with a typed `SynchronousReadError`.
 *
 * Registration: the built-in backends are listed in `src/backends/builtin-backends.ts`, which imports
 * `wasmBackendDefinition` from `src/backends/wasm/index.ts` and `gpuBackendDefinition` from
 * `src/backends/gpu/index.ts` (each a {@link BackendDefinition} whose `create()` builds the backend, importing
 * heavy code such as gpu.js lazily). Other code may call `registerBackend(definition)`.
 *
 * A backend need not implement every kernel. When the active backend lacks one, the engine reads the inputs
 * back, runs the `js` reference kernel, uploads the result, counts the fallback and emits a
 * `kernel-fallback` event (see `backendStatus()` and `onBackendEvent()`).
 *
 * @packageDocumentation
 */

/**
 * Element types of tensors: `float32` for values, `int32` for indices and masks, and the 16-bit floating-point
 * storage types `float16` (IEEE half) and `bfloat16` (the top half of a float32), which hold weights at half
 * the bytes. Computation is float32: `matmul` reads 16-bit operands directly, layout ops (`reshape`,
 * `transpose`, `slice`, `concat`, `gather`) and `cast` keep or produce them, and every other op widens a
 * 16-bit input to float32 first.
 */
export type DType = "float32" | "int32" | "float16" | "bfloat16";

/** The 16-bit floating-point storage dtypes. */
export type HalfDType = "float16" | "bfloat16";

/**
 * The typed array that holds the elements of a tensor of a given {@link DType} in storage: the bit patterns of
 * the 16-bit types in a `Uint16Array`.
 */
export type TypedArrayFor<D extends DType> = D extends "float32"
  ? Float32Array
  : D extends "int32"
    ? Int32Array
    : Uint16Array;

/** The values a read gives back: `Float32Array` for every floating-point dtype (16-bit ones widened), `Int32Array` for int32. */
export type TensorValues = Float32Array | Int32Array;

/** A typed array as a backend stores it: {@link TensorValues}, or the 16-bit bit patterns of `float16`/`bfloat16`. */
export type StorageValues = Float32Array | Int32Array | Uint16Array;

/**
 * An opaque reference to a backend's storage for one tensor's elements (a typed array, a pointer into
 * WebAssembly memory, a gpu.js texture, ...). Only the backend that created it interprets it.
 */
export type DataHandle = object;

/** What a kernel receives for each input and returns: storage plus the logical shape and dtype. */
export interface TensorInfo {
  /** The storage, created by the same backend that runs the kernel. */
  readonly handle: DataHandle;
  /** Row-major logical shape; the element count is the product of the entries (1 for `[]`). */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
}

/** The outcome of a backend's start-up probe and self-test. */
export interface BackendAvailability {
  /** True when the backend can run kernels in this environment. */
  readonly available: boolean;
  /**
   * Why the backend is or is not available, in words a user can act on, e.g.
   * `"gpu.js runs in mode \"cpu\" (no WebGL/WebGPU in this environment)"`.
   */
  readonly reason: string;
  /** Backend-specific facts worth reporting (gpu.js mode, SIMD support, thread count, ...). */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * Kernel names and the attributes each one receives. Input layouts are fixed by the engine. Inputs are float32
 * or int32, except that `matmul`, `cast` and the layout kernels (`gather`'s table, `transpose`, `slice`,
 * `concat`) also receive `float16`/`bfloat16` storage (the engine widens 16-bit inputs of every other kernel).
 */
export interface KernelAttributeMap {
  /**
   * Batched matrix product. Inputs `[a, b]`, both rank 3: `a` is `[batchA, m, k]` (or `[batchA, k, m]` when
   * `transposeA`), `b` is `[batchB, k, n]` (or `[batchB, n, k]` when `transposeB`); `batchA === batchB` or one
   * of them is 1 (broadcast). Either input may be float32, float16 or bfloat16 (read as float32 values; a backend
   * should widen while it packs rather than copy a whole operand). Output `[max(batchA, batchB), m, n]`, float32.
   */
  matmul: { readonly transposeA: boolean; readonly transposeB: boolean };
  /**
   * Elementwise binary ops with NumPy broadcasting. Inputs `[a, b]` have the same rank as `outputShape`
   * (leading 1s added by the engine); each axis of an input is either 1 or equal to the output's. Both inputs
   * have the same dtype (the engine promotes int32 to float32 when they differ); the output has that dtype.
   */
  add: { readonly outputShape: readonly number[] };
  /** See {@link KernelAttributeMap.add}: `a - b`. */
  sub: { readonly outputShape: readonly number[] };
  /** See {@link KernelAttributeMap.add}: `a * b`. */
  mul: { readonly outputShape: readonly number[] };
  /** See {@link KernelAttributeMap.add}: `a / b`. */
  div: { readonly outputShape: readonly number[] };
  /** Input `[a]`; output `factor * a`, same shape. */
  scale: { readonly factor: number };
  /** Inputs `[x, y]` of the same shape; output `alpha * x + y` (BLAS axpy). */
  axpy: { readonly alpha: number };
  /** Input `[a]`; output `-a`. */
  neg: Record<string, never>;
  /** Input `[a]`; output `sqrt(a)`. */
  sqrt: Record<string, never>;
  /** Input `[a]`; output `exp(a)`. */
  exp: Record<string, never>;
  /** Input `[a]`; output natural `log(a)`. */
  log: Record<string, never>;
  /** Input `[a]`; output `a * sigmoid(a)` (SiLU / swish). */
  silu: Record<string, never>;
  /** Input `[a]`; output `1 / (1 + exp(-a))`. */
  sigmoid: Record<string, never>;
  /** Input `[a]`; output `min(max(a, min), max)`. Either bound may be infinite. */
  clamp: { readonly min: number; readonly max: number };
  /**
   * Reduction over the middle axis. Input `[a]` of shape `[outer, reduced, inner]`; output `[outer, inner]`,
   * float32. Accumulate in higher precision where cheap.
   */
  sum: Record<string, never>;
  /** Like {@link KernelAttributeMap.sum}, the maximum. NaN propagates. */
  max: Record<string, never>;
  /** Like {@link KernelAttributeMap.sum}, the index of the first maximum; output int32. */
  argmax: Record<string, never>;
  /** Input `[a]` of shape `[rows, columns]`; softmax of each row (max-subtracted). */
  softmax: Record<string, never>;
  /**
   * Fused softmax of attention scores. Inputs `[x]` or `[x, mask]`: `x` is `[rows, columns]`, the optional additive
   * `mask` `[maskRows, columns]` applies its row `r mod maskRows` to row `r`. Each row is `softmax(scale·x + mask)`
   * (the product and the sum rounded to float32 in that order, as torch computes `scores * scale + mask`). With
   * `queries > 0`, `x` is a stack of `[queries, columns]` matrices and element `(i, j)` of each (`i = r mod
   * queries`) is excluded (probability 0) when `j > i + columns − queries`: the causal mask, aligned to the last
   * key as with a key/value cache.
   */
  maskedSoftmax: { readonly scale: number; readonly queries: number };
  /**
   * The softmax gradient, fused: inputs `[y, dy]` (`y` the softmax output, both `[rows, columns]`); output
   * `scale · y ⊙ (dy − Σ_row dy ⊙ y)`.
   */
  softmaxGradient: { readonly scale: number };
  /** SwiGLU: inputs `[gate, up]` of one shape; output `silu(gate) · up` (silu rounded to float32 first, as torch). */
  swiGlu: Record<string, never>;
  /**
   * The SwiGLU gradient for one input: inputs `[gate, up, dy]`; output `dy · up · silu'(gate)` for `input` 0 (the
   * gate, `silu' = σ(g)·(1 + g·(1 − σ(g)))`) or `dy · silu(gate)` for `input` 1 (up).
   */
  swiGluGradient: { readonly input: 0 | 1 };
  /**
   * The RMS-norm gradient with respect to x, fused: inputs `[x, weight, dy]` as `rmsNorm`; output
   * `r · (g − x · r² · mean(g ⊙ x))` per row, with `g = dy ⊙ weight` and `r = (mean(x²) + epsilon)^(−1/2)`.
   */
  rmsNormGradient: { readonly epsilon: number };
  /**
   * Hugging Face LlamaRMSNorm. Inputs `[x, weight]`: `x` is `[rows, columns]`, `weight` is `[columns]`;
   * output `x * rsqrt(mean(x², row) + epsilon) * weight`, computed in float32.
   */
  rmsNorm: { readonly epsilon: number };
  /**
   * Rotary position embedding, Hugging Face rotate-half convention. Inputs `[x, cos, sin]`: `x` is
   * `[outer, sequence, headDim]`, `cos` and `sin` are `[sequence, headDim]`. Output
   * `x * cos + rotateHalf(x) * sin` where `rotateHalf([x1, x2]) = [-x2, x1]` (halves of the last axis).
   */
  rotaryEmbedding: Record<string, never>;
  /** Row lookup. Inputs `[table, indices]`: `table` is `[rows, columns]`, `indices` int32 `[count]`; output `[count, columns]`. */
  gather: Record<string, never>;
  /** Input `[a]`; output axis `i` is input axis `permutation[i]`. */
  transpose: { readonly permutation: readonly number[] };
  /** Input `[a]`; the box `begin .. begin + size` (per axis, all within bounds). */
  slice: { readonly begin: readonly number[]; readonly size: readonly number[] };
  /**
   * Inputs: any number of 2-D tensors `[outer, columns_i]` with the same `outer` and dtype; output
   * `[outer, sum(columns_i)]` (the engine maps concatenation along any axis to this layout).
   */
  concat: Record<string, never>;
  /**
   * Per-row cross-entropy without materialising log-probabilities. Inputs `[logits, labels]`: float32
   * `[rows, classes]` and int32 `[rows]`. Output float32 `[rows]`: `log Σ_c exp(x_c − m) − (x_label − m)` with `m`
   * the row maximum, where the label is in `[0, classes)`; 0 where it equals `ignoreIndex`; NaN for any other
   * label (so an invalid label can never pass silently on a backend whose labels cannot be checked on the host).
   */
  crossEntropyRows: { readonly ignoreIndex: number };
  /**
   * The fused gradient of the mean cross-entropy. Inputs `[logits, labels, scale]`: as `crossEntropyRows`, plus a
   * float32 scalar `[]` (the upstream gradient over the number of counted rows). Output `[rows, classes]`:
   * `scale · (softmax(row) − onehot(label))` on counted rows, 0 on ignored rows, NaN on rows with an invalid label.
   */
  crossEntropyGradient: { readonly ignoreIndex: number };
  /** Input `[a]`; output float32 scalar `[]`: `sqrt(sum(a²))`, accumulated in float64 where possible. */
  frobeniusNorm: Record<string, never>;
  /** Input `[a]` float32; output int32 of the same shape: 1 where the element is finite, else 0. */
  isFinite: Record<string, never>;
  /**
   * Input `[a]`; output the same values converted to `dtype`: float → int truncates toward zero (NaN → 0);
   * to `float16`/`bfloat16` rounds to nearest even as torch (overflow → ±infinity, NaN → 0x7e00 | sign for
   * float16, 0x7fc0 for bfloat16); from them widens exactly.
   */
  cast: { readonly dtype: DType };
}

/** The name of a kernel. */
export type KernelName = keyof KernelAttributeMap;

/**
 * A kernel: computes one output from inputs that live on `backend`, synchronously.
 * Must not modify or dispose its inputs; the output is a fresh handle owned by the caller.
 */
export type Kernel<K extends KernelName, B extends Backend = Backend> = (
  inputs: readonly TensorInfo[],
  attributes: KernelAttributeMap[K],
  backend: B,
) => TensorInfo;

/** A backend's kernel table; missing kernels fall back to `js`. */
export type KernelTable<B extends Backend = Backend> = { readonly [K in KernelName]?: Kernel<K, B> };

/** Storage in use by one backend, as reported by {@link Backend.memory}. */
export interface BackendMemory {
  /** Number of live handles. */
  readonly handles: number;
  /** Bytes held by live handles (an estimate for GPU backends). */
  readonly bytes: number;
  /**
   * Bytes of caches the backend keeps beside tensors and releases with them (the wasm backend's packed weight
   * panels); absent when the backend keeps none.
   */
  readonly cacheBytes?: number;
}

/**
 * A compute backend. Implementations: `src/backends/js/` (reference), `src/backends/wasm/`, `src/backends/gpu/`.
 */
export interface Backend {
  /** Unique name, e.g. `"js"`, `"wasm"`, `"gpu"`. */
  readonly name: string;
  /** Higher wins when `setBackend("auto")` chooses among available backends (js 1, wasm 2, gpu 3). */
  readonly priority: number;
  /**
   * Probes the environment, compiles kernels and runs the backend's own self-test. Called once by the
   * registry before first use. Must not throw for an expected absence (no GPU, no SIMD): resolve with
   * `{available: false, reason}` instead. The registry additionally compares a few kernels with `js`.
   */
  initialize(): Promise<BackendAvailability>;
  /**
   * Takes ownership of `values` (the caller will not touch them again) and returns a handle to storage
   * holding them. `values.length` equals the product of the tensor's shape; `float16`/`bfloat16` arrive as
   * their bit patterns in a `Uint16Array`.
   */
  upload(values: StorageValues, dtype: DType): DataHandle;
  /**
   * Reads a handle's elements back to the CPU, synchronously, in storage form ({@link TypedArrayFor}: bit
   * patterns for the 16-bit types). The result may be a view of internal storage that stays valid only until
   * the next call into this backend; callers must not write to it and copy it if they keep it.
   */
  read(handle: DataHandle, dtype: DType, size: number): StorageValues;
  /**
   * False when this backend can only read back asynchronously (then {@link read} throws and
   * {@link readAsync} must exist). Absent means true. Registry and engine check it before any synchronous read.
   */
  readonly readsSynchronously?: boolean;
  /**
   * Reads a handle's elements back to the CPU asynchronously, in storage form; the result is the caller's to
   * keep. Optional for backends that read synchronously (the engine then uses {@link read}).
   */
  readAsync?(handle: DataHandle, dtype: DType, size: number): Promise<StorageValues>;
  /** Releases a handle's storage. Called exactly once per handle, by the engine. */
  dispose(handle: DataHandle): void;
  /** Live storage counts, for `memory()` and leak tests. */
  memory(): BackendMemory;
  /** The kernels this backend implements. */
  readonly kernels: KernelTable;
}

/**
 * How a backend is registered: a name, a priority and a factory that creates the backend lazily (so that a
 * heavy dependency such as gpu.js is only imported when the backend is first requested).
 */
export interface BackendDefinition {
  /** Unique name, e.g. `"gpu"`. */
  readonly name: string;
  /** See {@link Backend.priority}. */
  readonly priority: number;
  /** Creates the backend; the registry then calls {@link Backend.initialize}. May throw; that counts as unavailable. */
  create(): Backend | Promise<Backend>;
}
