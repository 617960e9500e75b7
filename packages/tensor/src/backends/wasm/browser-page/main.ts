/**
 * Browser check of the wasm backend (bundled by `wasm-browser.test.ts`): two threads means a Web Worker from a
 * Blob URL on a shared memory, and a main thread that may not block (it spins on `Atomics.load`). The page
 * runs products that take the threaded path and compares them with a plain loop; the result lands in
 * `window.wasmCheck`.
 */
import type { TensorInfo } from "../../../backend/backend.js";
import { canBlock } from "../platform.js";
import { WasmBackend } from "../wasm-backend.js";

interface WasmCheck {
  readonly crossOriginIsolated: boolean;
  readonly mainThreadCanBlock: boolean;
  readonly details: Readonly<Record<string, string | number | boolean>> | undefined;
  readonly reason: string;
  readonly largestError: number;
  readonly error?: string;
}

function pattern(size: number, salt: number): Float32Array {
  const values = new Float32Array(size);
  for (let index = 0; index < size; index++)
    values[index] = ((index * 7919 + salt * 104729) % 2003) / 1001.5 - 1;
  return values;
}

async function check(): Promise<WasmCheck> {
  const backend = new WasmBackend({ threads: 2 });
  const availability = await backend.initialize();
  let largestError = 0;
  for (const [m, k, n] of [
    [130, 70, 90],
    [515, 300, 16],
  ] as const) {
    const left = pattern(m * k, 1);
    const right = pattern(k * n, 2);
    const a: TensorInfo = {
      handle: backend.upload(left.slice(), "float32"),
      shape: [1, m, k],
      dtype: "float32",
    };
    const b: TensorInfo = {
      handle: backend.upload(right.slice(), "float32"),
      shape: [1, k, n],
      dtype: "float32",
    };
    const output = backend.kernels.matmul!([a, b], { transposeA: false, transposeB: false }, backend);
    const actual = backend.read(output.handle, "float32", m * n);
    for (let row = 0; row < m; row++) {
      for (let column = 0; column < n; column++) {
        let expected = 0;
        for (let index = 0; index < k; index++)
          expected += left[row * k + index]! * right[index * n + column]!;
        const error = Math.abs(actual[row * n + column]! - expected) / (1 + Math.abs(expected));
        largestError = Math.max(largestError, error);
      }
    }
    for (const handle of [a.handle, b.handle, output.handle]) backend.dispose(handle);
  }
  backend.close();
  return {
    crossOriginIsolated: globalThis.crossOriginIsolated,
    mainThreadCanBlock: canBlock(),
    details: availability.details,
    reason: availability.reason,
    largestError,
  };
}

const target = window as unknown as { wasmCheck?: WasmCheck };
check().then(
  (result) => {
    target.wasmCheck = result;
  },
  (error: unknown) => {
    target.wasmCheck = {
      crossOriginIsolated: globalThis.crossOriginIsolated,
      mainThreadCanBlock: false,
      details: undefined,
      reason: "",
      largestError: Number.NaN,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    };
  },
);
