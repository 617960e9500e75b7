import { describe, expect, it } from "vitest";
import { GpuDevice } from "./gpu-device.js";
import { GpuCapacityError, GpuReleasedHandleError, GpuSynchronousReadError } from "./gpu-errors.js";
import type { GpuJsInstance, GpuJsKernel } from "./gpu-js-types.js";

/**
 * A stand-in for a gpu.js instance that records what the device asks of it. Its kernels "compute" by copying
 * their first array argument (enough to check storage bookkeeping; the real kernels run in the browser suite).
 */
function fakeGpu(options: { maxTextureSize?: number; asynchronous?: boolean } = {}) {
  const events: string[] = [];
  let next = 0;
  const gpu: GpuJsInstance = {
    mode: options.asynchronous ? "webgpu" : "webgl2",
    Kernel: { features: { maxTextureSize: options.maxTextureSize ?? 16_384 } },
    createKernel(source: string) {
      events.push(`create ${source.slice(0, source.indexOf("("))}`);
      let output = [0];
      const kernel = ((...parameters: unknown[]) => {
        const id = next++;
        const first = parameters[0] as { values?: Float32Array } | Float32Array;
        // Textures come back padded to a rectangle: append junk to check that reads trim to the length.
        const values = Float32Array.from([
          ...(first instanceof Float32Array ? first : (first.values ?? [])),
          99,
        ]);
        const texture = {
          output,
          values,
          toArray: () => (options.asynchronous ? Promise.resolve(values) : values),
          delete: () => events.push(`delete ${id}`),
        };
        events.push(`run ${id} [${output.join(", ")}]`);
        return options.asynchronous ? Promise.resolve(texture) : texture;
      }) as GpuJsKernel;
      kernel.setOutput = (shape: number[]) => {
        output = shape;
      };
      return kernel;
    },
    destroy: async () => {
      events.push("destroy");
    },
  };
  return { gpu, events };
}

describe("GpuDevice (GL modes)", () => {
  it("uploads, reads back exactly `length` values, and compiles each kernel once", () => {
    const { gpu, events } = fakeGpu();
    const device = GpuDevice.create(gpu, "webgl2");
    const first = device.upload(Float32Array.of(1, 2, 3));
    const second = device.upload(Float32Array.of(4, 5));
    expect(device.readSync(first)).toEqual(Float32Array.of(1, 2, 3));
    expect(device.readSync(second)).toEqual(Float32Array.of(4, 5));
    expect(events.filter((event) => event.startsWith("create"))).toHaveLength(1);
    expect(device.memory()).toEqual({ storages: 2, bytes: 20 });
  });

  it("releases each texture exactly once and refuses released storages", () => {
    const { gpu, events } = fakeGpu();
    const device = GpuDevice.create(gpu, "webgl2");
    const storage = device.upload(Float32Array.of(1, 2));
    device.release(storage);
    expect(events).toContain("delete 0");
    expect(device.memory()).toEqual({ storages: 0, bytes: 0 });
    expect(() => device.release(storage)).toThrow(GpuReleasedHandleError);
    expect(() => device.readSync(storage)).toThrow(GpuReleasedHandleError);
    expect(() => device.run("unary", 2, [storage], [0, 0, 0, 0, 0])).toThrow(
      /received a released gpu storage of 2 elements/,
    );
  });

  it("holds empty tensors without dispatching anything", () => {
    const { gpu, events } = fakeGpu();
    const device = GpuDevice.create(gpu, "webgl2");
    const empty = device.upload(new Float32Array(0));
    expect(device.readSync(empty)).toEqual(new Float32Array(0));
    device.release(empty);
    expect(events).toEqual([]);
  });

  it("throws GpuCapacityError past MAX_TEXTURE_SIZE² elements, naming the sizes", () => {
    const { gpu } = fakeGpu({ maxTextureSize: 4 });
    const device = GpuDevice.create(gpu, "webgl2");
    expect(device.maxElements).toBe(16);
    expect(() => device.upload(new Float32Array(17))).toThrow(GpuCapacityError);
    expect(() => device.upload(new Float32Array(17))).toThrow(
      /17 elements, more than the 16 one gpu storage holds in mode "webgl2"/,
    );
    expect(device.upload(new Float32Array(16)).length).toBe(16);
  });

  it("caps storages at 2^24 elements, where float32 index arithmetic stops being exact", () => {
    const device = GpuDevice.create(fakeGpu({ maxTextureSize: 16_384 }).gpu, "webgl2");
    expect(device.maxElements).toBe(2 ** 24);
  });
});

describe("GpuDevice (WebGPU)", () => {
  it("reads asynchronously only, with a typed error for synchronous reads", async () => {
    const device = GpuDevice.create(fakeGpu({ asynchronous: true }).gpu, "webgpu");
    expect(device.readsSynchronously).toBe(false);
    const storage = device.upload(Float32Array.of(7, 8));
    expect(() => device.readSync(storage)).toThrow(GpuSynchronousReadError);
    expect(await device.readAsync(storage)).toEqual(Float32Array.of(7, 8));
  });

  it("queues a release behind the kernels already dispatched on the storage", async () => {
    const { gpu, events } = fakeGpu({ asynchronous: true });
    const device = GpuDevice.create(gpu, "webgpu");
    const input = device.upload(Float32Array.of(1, 2, 3));
    const output = device.run("unary", 3, [input], [0, 0, 0, 0, 0]);
    device.release(input);
    await device.flush();
    expect(events.filter((event) => !event.startsWith("create"))).toEqual([
      "run 0 [3]",
      "run 1 [3]",
      "delete 0",
    ]);
    expect(await device.readAsync(output)).toEqual(Float32Array.of(1, 2, 3));
  });
});
