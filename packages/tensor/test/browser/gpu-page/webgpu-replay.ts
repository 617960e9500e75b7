/**
 * Runs the shared conformance table on the gpu backend in gpu.js's WebGPU mode.
 *
 * The tensor engine's contract is synchronous (`Backend.read`), and WebGPU can only read back asynchronously
 * (`mapAsync`), so WebGPU cannot be made the active backend through the registry's synchronous self-test, and a
 * case's `dataSync()` cannot be answered in the same turn. This module bridges the gap for testing, without
 * changing what runs on the device:
 *
 * - A replay backend forwards every upload and kernel call the engine issues to the real gpu backend in WebGPU
 *   mode (exactly the kernel calls, inputs and attributes the engine issued; WebGPU queues the work).
 * - When the engine reads a tensor, the read throws {@link PendingRead}; the runner awaits `readAsync` of that
 *   tensor, caches the values by read number, and replays the case from the start; the replayed run's n-th
 *   read returns the cached n-th value. Kernel calls that the previous attempt already made are not
 *   dispatched again (their output shapes are remembered by call number) unless a later read needs them, so
 *   the device runs each kernel about once.
 *
 * The registry's self-test skips kernels a backend does not (yet) list, so the replay backend lists its
 * kernels only after it is active: its correctness is established by the conformance comparison itself.
 */
import {
  type Backend,
  type BackendAvailability,
  type DataHandle,
  type DType,
  type KernelName,
  type KernelTable,
  registerBackend,
  type StorageValues,
  setBackend,
  type TensorInfo,
} from "@peftjs/tensor";
import { type CaseOutput, type ConformanceCase, compareOutputs, executeCase } from "@peftjs/tensor/testing";
import type { GpuBackend } from "../../../src/backends/gpu/index.js";

/** A tensor's storage as the engine sees it: a recipe, and the WebGPU output once dispatched. */
interface ReplayNode {
  readonly recipe:
    | { readonly kind: "upload"; readonly values: StorageValues; readonly dtype: DType }
    | {
        readonly kind: "kernel";
        readonly name: KernelName;
        readonly inputs: readonly ReplayInput[];
        readonly attributes: unknown;
      };
  output: TensorInfo | undefined;
}

interface ReplayInput {
  readonly node: ReplayNode;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** Thrown by a read whose values are not cached yet. */
class PendingRead extends Error {
  constructor(
    readonly node: ReplayNode,
    readonly dtype: DType,
  ) {
    super("pending WebGPU read-back");
  }
}

const allKernelNames: readonly KernelName[] = [
  "matmul",
  "add",
  "sub",
  "mul",
  "div",
  "scale",
  "axpy",
  "neg",
  "sqrt",
  "exp",
  "log",
  "silu",
  "sigmoid",
  "clamp",
  "sum",
  "max",
  "argmax",
  "softmax",
  "rmsNorm",
  "rotaryEmbedding",
  "gather",
  "transpose",
  "slice",
  "concat",
  "frobeniusNorm",
  "isFinite",
  "cast",
];

/** The engine-facing side: forwards to the WebGPU gpu backend, answers reads from the cache. */
class ReplayBackend implements Backend {
  readonly name: string;
  readonly priority = 0;
  readonly kernels: KernelTable = {};
  private readonly device: GpuBackend;
  /** Values of the reads so far, in read order, for the current case. */
  private readCache: StorageValues[] = [];
  private readCount = 0;
  /** Output shape and dtype of each kernel call of the previous attempt, by call number. */
  private knownOutputs: { shape: readonly number[]; dtype: DType }[] = [];
  private callCount = 0;
  /** WebGPU storages dispatched during the current attempt. */
  private dispatched: DataHandle[] = [];

  constructor(name: string, device: GpuBackend) {
    this.name = name;
    this.device = device;
  }

  async initialize(): Promise<BackendAvailability> {
    return {
      available: true,
      reason: `replays kernel calls on the gpu backend in mode "${this.device.mode}"`,
    };
  }

  /** Lists every kernel (after the registry's self-test; see the module comment). */
  enableKernels(): void {
    const table = this.kernels as Record<string, unknown>;
    for (const name of allKernelNames) {
      table[name] = (inputs: readonly TensorInfo[], attributes: unknown): TensorInfo =>
        this.call(name, inputs, attributes);
    }
  }

  /** Forgets everything about the previous case. */
  startCase(): void {
    this.readCache = [];
    this.knownOutputs = [];
  }

  /** Starts one run of the case. */
  startAttempt(): void {
    this.readCount = 0;
    this.callCount = 0;
  }

  /** Dispatches what a pending read needs, reads it back, caches it, and releases the attempt's storages. */
  async resolve(pending: PendingRead): Promise<void> {
    const output = this.materialize(pending.node);
    const values = await this.device.readAsync(output.handle, pending.dtype);
    this.readCache.push(values);
    await this.releaseAttempt();
  }

  /** Releases every storage dispatched in the current attempt. */
  async releaseAttempt(): Promise<void> {
    for (const handle of this.dispatched) this.device.dispose(handle);
    this.dispatched = [];
    await this.device.flush();
  }

  private call(name: KernelName, inputs: readonly TensorInfo[], attributes: unknown): TensorInfo {
    const node: ReplayNode = {
      recipe: {
        kind: "kernel",
        name,
        inputs: inputs.map((info) => ({
          node: info.handle as ReplayNode,
          shape: info.shape,
          dtype: info.dtype,
        })),
        attributes,
      },
      output: undefined,
    };
    const known = this.knownOutputs[this.callCount];
    this.callCount++;
    if (known !== undefined) return { handle: node, shape: known.shape, dtype: known.dtype };
    const output = this.materialize(node);
    this.knownOutputs.push({ shape: output.shape, dtype: output.dtype });
    return { handle: node, shape: output.shape, dtype: output.dtype };
  }

  private materialize(node: ReplayNode): TensorInfo {
    if (node.output !== undefined) return node.output;
    const recipe = node.recipe;
    let output: TensorInfo;
    if (recipe.kind === "upload") {
      output = {
        handle: this.device.upload(recipe.values.slice(), recipe.dtype),
        shape: [recipe.values.length],
        dtype: recipe.dtype,
      };
    } else {
      const inputs = recipe.inputs.map((input) => ({
        handle: this.materialize(input.node).handle,
        shape: input.shape,
        dtype: input.dtype,
      }));
      const kernel = this.device.kernels[recipe.name] as (
        inputs: readonly TensorInfo[],
        attributes: unknown,
      ) => TensorInfo;
      output = kernel(inputs, recipe.attributes);
    }
    this.dispatched.push(output.handle);
    node.output = output;
    return output;
  }

  upload(values: StorageValues, dtype: DType): DataHandle {
    const node: ReplayNode = { recipe: { kind: "upload", values: values.slice(), dtype }, output: undefined };
    return node;
  }

  read(handle: DataHandle, dtype: DType): StorageValues {
    const cached = this.readCache[this.readCount];
    if (cached === undefined) throw new PendingRead(handle as ReplayNode, dtype);
    this.readCount++;
    return cached;
  }

  dispose(): void {
    // Device storages are released per attempt (releaseAttempt), after their read-backs.
  }

  memory() {
    return { handles: this.dispatched.length, bytes: 0 };
  }
}

/** The outcome of one conformance case on WebGPU. */
export interface ReplayResult {
  readonly name: string;
  readonly op: string;
  readonly passed: boolean;
  readonly failure?: string;
  /** Runs of the case on the CPU side (reads + 1). */
  readonly attempts: number;
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/**
 * Registers a replay backend named `name` over `device` (a {@link GpuBackend} initialised in WebGPU mode) and
 * returns a runner for conformance cases, each compared with `js` at the case's tolerance.
 */
export async function createWebGpuConformanceRunner(
  name: string,
  device: GpuBackend,
): Promise<(testCase: ConformanceCase) => Promise<ReplayResult>> {
  const replay = new ReplayBackend(name, device);
  registerBackend({ name, priority: 0, create: () => replay });
  await setBackend(name);
  replay.enableKernels();
  await setBackend("js");

  return async (testCase) => {
    const base = { name: testCase.name, op: testCase.op };
    await setBackend("js");
    if (testCase.expectedError !== undefined) {
      await setBackend(name);
      try {
        executeCase(testCase);
        return {
          ...base,
          passed: false,
          failure: `did not throw; expected ${testCase.expectedError}`,
          attempts: 1,
        };
      } catch (error) {
        const passed = errorName(error) === testCase.expectedError;
        return passed
          ? { ...base, passed, attempts: 1 }
          : { ...base, passed, failure: `threw ${errorName(error)}: ${String(error)}`, attempts: 1 };
      } finally {
        await replay.releaseAttempt();
        await setBackend("js");
      }
    }
    const expected = executeCase(testCase);
    await setBackend(name);
    replay.startCase();
    let actual: CaseOutput | undefined;
    let attempts = 0;
    try {
      while (actual === undefined) {
        attempts++;
        replay.startAttempt();
        try {
          actual = executeCase(testCase);
        } catch (error) {
          if (!(error instanceof PendingRead)) throw error;
          await replay.resolve(error);
        }
      }
    } catch (error) {
      return {
        ...base,
        passed: false,
        failure: `threw ${errorName(error)}: ${error instanceof Error ? error.message : String(error)}`,
        attempts,
      };
    } finally {
      await replay.releaseAttempt();
      await setBackend("js");
    }
    const failure = compareOutputs(actual, expected, testCase.tolerance);
    return failure === undefined
      ? { ...base, passed: true, attempts }
      : { ...base, passed: false, failure, attempts };
  };
}
