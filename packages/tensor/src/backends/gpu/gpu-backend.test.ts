import { describe, expect, it } from "vitest";
import {
  BackendUnavailableError,
  getBackend,
  isBackendRegistered,
  listBackends,
  registerBackend,
  setBackend,
} from "../../index.js";
import { GpuBackend, gpuBackendDefinition } from "./gpu-backend.js";
import { GpuKernelError } from "./gpu-errors.js";
import type { GpuJsConstructor, GpuJsInstance, GpuJsKernel } from "./gpu-js-types.js";

/**
 * A gpu.js stand-in: `new GPU({mode})` succeeds only for the modes in `accepted` (a plain `new GPU()` gives
 * `fallbackMode`), and every kernel returns its first argument unchanged, i.e. computes wrong values.
 */
function fakeGpuClass(
  accepted: readonly string[],
  fallbackMode: string,
): { GPU: GpuJsConstructor; requests: string[] } {
  const requests: string[] = [];
  class FakeGpu implements GpuJsInstance {
    readonly mode: string;
    constructor(settings?: { mode?: string }) {
      requests.push(settings?.mode ?? "(default)");
      if (settings?.mode !== undefined && !accepted.includes(settings.mode)) {
        throw new Error(`A requested mode of "${settings.mode}" and is not supported`);
      }
      this.mode = settings?.mode ?? fallbackMode;
    }
    createKernel(): GpuJsKernel {
      const kernel = ((first: unknown) => {
        const values = first instanceof Float32Array ? first : (first as { values: Float32Array }).values;
        return { output: [values.length], values, toArray: () => values, delete: () => undefined };
      }) as GpuJsKernel;
      kernel.setOutput = () => undefined;
      return kernel;
    }
    async destroy(): Promise<void> {}
  }
  return { GPU: FakeGpu, requests };
}

// Plain Node has no WebGL, WebGL2, WebGPU or headless-gl context (the optional `gl` package has no native
// build here), so gpu.js falls back to its software modes, which must not count as a GPU.
describe("gpu backend in plain Node", () => {
  it("reports itself unavailable, naming gpu.js's software mode", async () => {
    const backend = new GpuBackend();
    const availability = await backend.initialize();
    expect(availability.available).toBe(false);
    expect(availability.reason).toMatch(/gpu\.js runs in mode "(webasm|cpu)" here/);
    expect(availability.reason).toContain("do not count as a GPU");
    expect(availability.details?.mode).toMatch(/^(webasm|cpu)$/);
    expect(backend.mode).toBeUndefined();
  });

  it("refuses WebGPU without an adapter and WebGL2 without a context, with the reason", async () => {
    const webGpu = await new GpuBackend({ mode: "webgpu" }).initialize();
    expect(webGpu).toMatchObject({ available: false, reason: expect.stringContaining("no WebGPU adapter") });
    const webGl2 = await new GpuBackend({ mode: "webgl2" }).initialize();
    expect(webGl2).toMatchObject({
      available: false,
      reason: expect.stringContaining('cannot run mode "webgl2"'),
    });
  });

  it("asks gpu.js for headlessgl, webgl2, webgl by name, then names the software mode it would fall back to", async () => {
    const { GPU, requests } = fakeGpuClass([], "cpu");
    const availability = await new GpuBackend({ GPU }).initialize();
    expect(requests).toEqual(["headlessgl", "webgl2", "webgl", "(default)"]);
    expect(availability).toMatchObject({
      available: false,
      reason: expect.stringContaining('gpu.js runs in mode "cpu" here'),
    });
  });

  it("is unavailable when the probe kernel computes wrong values, even in a GPU mode", async () => {
    const { GPU, requests } = fakeGpuClass(["webgl"], "cpu");
    const availability = await new GpuBackend({ GPU }).initialize();
    expect(requests).toEqual(["headlessgl", "webgl2", "webgl"]);
    expect(availability.available).toBe(false);
    expect(availability.reason).toBe(
      'gpu.js mode "webgl" computed [1.5, -2, 3.25, 65536.5] for 2·[1.5, -2, 3.25, 65536.5]',
    );
  });

  it("throws a typed error when a kernel is called on the unavailable backend", async () => {
    const backend = new GpuBackend();
    await backend.initialize();
    expect(() => backend.upload(Float32Array.of(1), "float32")).toThrow(GpuKernelError);
    expect(() => backend.upload(Float32Array.of(1), "float32")).toThrow(
      /not initialised \(gpu\.js runs in mode/,
    );
    expect(backend.memory()).toEqual({ handles: 0, bytes: 0 });
  });

  it("is never chosen by setBackend: asking for it throws, auto skips it", async () => {
    if (!isBackendRegistered("gpu")) registerBackend(gpuBackendDefinition());
    const error = await setBackend("gpu").then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as BackendUnavailableError).reason).toContain(
      "software modes webasm and cpu do not count as a GPU",
    );
    expect((error as BackendUnavailableError).available).toContain("js");
    await setBackend("auto");
    expect(getBackend()).not.toBe("gpu");
    const gpu = listBackends().find((info) => info.name === "gpu");
    expect(gpu?.availability?.available).toBe(false);
  });
});
