import { cpuKernels } from "../backends/js/cpu-kernels.js";
import type { CpuTensor } from "../backends/js/cpu-tensor.js";
import type { Backend, DType, KernelName, StorageValues } from "./backend.js";

/** Largest accepted |backend − js| / (1 + |js|) in the start-up self-test (float32 kernels on O(1) inputs). */
const selfTestTolerance = 1e-4;

interface SelfTestCase {
  readonly kernel: KernelName;
  readonly inputs: readonly CpuTensor[];
  readonly attributes: object;
}

/** Deterministic small values in [-1, 1) without a random generator. */
function pattern(size: number, salt: number): Float32Array {
  const values = new Float32Array(size);
  for (let index = 0; index < size; index++) values[index] = ((index * 37 + salt * 11) % 23) / 11.5 - 1;
  return values;
}

function tensor(shape: number[], salt: number): CpuTensor {
  return {
    values: pattern(
      shape.reduce((product, extent) => product * extent, 1),
      salt,
    ),
    shape,
    dtype: "float32",
  };
}

const cases: readonly SelfTestCase[] = [
  {
    kernel: "matmul",
    inputs: [tensor([1, 3, 5], 1), tensor([1, 5, 4], 2)],
    attributes: { transposeA: false, transposeB: false },
  },
  {
    kernel: "matmul",
    inputs: [tensor([2, 5, 3], 3), tensor([1, 4, 5], 4)],
    attributes: { transposeA: true, transposeB: true },
  },
  { kernel: "add", inputs: [tensor([2, 3], 5), tensor([1, 3], 6)], attributes: { outputShape: [2, 3] } },
  { kernel: "mul", inputs: [tensor([2, 3], 7), tensor([2, 1], 8)], attributes: { outputShape: [2, 3] } },
  { kernel: "softmax", inputs: [tensor([3, 7], 9)], attributes: {} },
  { kernel: "rmsNorm", inputs: [tensor([3, 8], 10), tensor([8], 11)], attributes: { epsilon: 1e-6 } },
  { kernel: "sum", inputs: [tensor([2, 5, 3], 12)], attributes: {} },
];

/** Reads a handle back, asynchronously where the backend reads only asynchronously. */
async function readBack(
  backend: Backend,
  handle: object,
  dtype: DType,
  size: number,
): Promise<StorageValues> {
  if (backend.readsSynchronously === false && backend.readAsync !== undefined)
    return backend.readAsync(handle, dtype, size);
  return backend.read(handle, dtype, size).slice();
}

/**
 * Runs a few kernels that `backend` implements on small inputs and compares them with the `js` reference
 * (reading back asynchronously on a backend that reads only asynchronously).
 *
 * @returns a description of the first mismatch or failure, or `undefined` when every check passed.
 */
export async function runSelfTest(backend: Backend): Promise<string | undefined> {
  for (const testCase of cases) {
    const kernel = backend.kernels[testCase.kernel] as
      | ((
          inputs: readonly { handle: object; shape: readonly number[]; dtype: DType }[],
          attributes: object,
          backend: Backend,
        ) => {
          handle: object;
          shape: readonly number[];
          dtype: DType;
        })
      | undefined;
    if (kernel === undefined) continue;
    const reference = (
      cpuKernels[testCase.kernel] as (inputs: readonly CpuTensor[], attributes: object) => CpuTensor
    )(testCase.inputs, testCase.attributes);
    const handles = testCase.inputs.map((input) => ({
      handle: backend.upload(input.values.slice(), input.dtype),
      shape: input.shape,
      dtype: input.dtype,
    }));
    let actual: StorageValues;
    try {
      const output = kernel(handles, testCase.attributes, backend);
      actual = await readBack(backend, output.handle, output.dtype, reference.values.length);
      backend.dispose(output.handle);
    } catch (error) {
      return `kernel "${testCase.kernel}" threw: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      for (const handle of handles) backend.dispose(handle.handle);
    }
    if (actual.length !== reference.values.length) {
      return `kernel "${testCase.kernel}" returned ${actual.length} elements, expected ${reference.values.length}`;
    }
    for (let index = 0; index < actual.length; index++) {
      const expected = reference.values[index]!;
      const error = Math.abs(actual[index]! - expected) / (1 + Math.abs(expected));
      if (!(error <= selfTestTolerance)) {
        return `kernel "${testCase.kernel}" element ${index} is ${actual[index]}, js gives ${expected}`;
      }
    }
  }
  return undefined;
}
