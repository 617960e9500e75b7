import { afterEach, describe, expect, it } from "vitest";
import { JsBackend } from "../src/backends/js/js-backend.js";
import {
  type Backend,
  type BackendEvent,
  BackendUnavailableError,
  backendStatus,
  getBackend,
  listBackends,
  matmul,
  onBackendEvent,
  registerBackend,
  setBackend,
  TensorArgumentError,
  tensor,
  unregisterBackend,
} from "../src/index.js";

/** A backend that stores like `js` but implements only some kernels (and may implement them wrongly). */
function partialBackend(
  name: string,
  priority: number,
  kernelNames: readonly string[],
  broken = false,
): Backend {
  const storage = new JsBackend();
  const kernels = Object.fromEntries(
    kernelNames.map((kernel) => {
      const reference = storage.kernels[kernel as keyof typeof storage.kernels] as (
        ...args: unknown[]
      ) => unknown;
      return [
        kernel,
        (inputs: unknown, attributes: unknown, backend: unknown) => {
          const output = reference(inputs, attributes, backend) as { handle: { values: Float32Array } };
          if (broken) output.handle.values[0]! += 1;
          return output;
        },
      ];
    }),
  );
  return {
    name,
    priority,
    initialize: async () => ({ available: true, reason: `${name} test backend` }),
    upload: (values, dtype) => storage.upload(values, dtype),
    read: (handle) => storage.read(handle),
    dispose: (handle) => storage.dispose(handle),
    memory: () => storage.memory(),
    kernels,
  };
}

const events: BackendEvent[] = [];
onBackendEvent((event) => events.push(event));

afterEach(async () => {
  await setBackend("js");
  for (const info of listBackends()) if (info.name.startsWith("test-")) unregisterBackend(info.name);
  events.length = 0;
});

describe("backend registry", () => {
  it("starts on js and lists it as available", () => {
    expect(getBackend()).toBe("js");
    expect(listBackends().find((info) => info.name === "js")).toMatchObject({
      active: true,
      availability: { available: true },
    });
  });

  it("throws BackendUnavailableError listing the available backends for an unknown name", async () => {
    await expect(setBackend("test-missing")).rejects.toThrow(BackendUnavailableError);
    await expect(setBackend("test-missing")).rejects.toThrow(
      /no backend named "test-missing" is registered; available backends: .*"js"/,
    );
  });

  it("reports a backend whose probe says unavailable, with the reason, and auto skips it", async () => {
    registerBackend({
      name: "test-absent",
      priority: 100,
      create: () => ({
        ...partialBackend("test-absent", 100, []),
        initialize: async () => ({ available: false, reason: "no device here" }),
      }),
    });
    await expect(setBackend("test-absent")).rejects.toThrow(
      'backend "test-absent" is unavailable: no device here',
    );
    expect(events).toContainEqual({
      type: "backend-unavailable",
      backend: "test-absent",
      reason: "no device here",
    });
    await setBackend("auto");
    expect(getBackend()).not.toBe("test-absent");
  });

  it("treats a throwing factory as unavailable", async () => {
    registerBackend({
      name: "test-throws",
      priority: 100,
      create: () => {
        throw new Error("module failed to load");
      },
    });
    await expect(setBackend("test-throws")).rejects.toThrow("initialisation threw: module failed to load");
  });

  it("fails a backend whose kernels disagree with js in the self-test", async () => {
    registerBackend({
      name: "test-broken",
      priority: 100,
      create: () => partialBackend("test-broken", 100, ["matmul"], true),
    });
    await expect(setBackend("test-broken")).rejects.toThrow(/self-test failed: kernel "matmul" element 0/);
  });

  it("auto picks the highest-priority backend that passes, and says so", async () => {
    registerBackend({
      name: "test-fast",
      priority: 50,
      create: () => partialBackend("test-fast", 50, ["add"]),
    });
    await setBackend("auto");
    expect(getBackend()).toBe("test-fast");
    expect(backendStatus()).toMatchObject({
      active: "test-fast",
      requested: "auto",
      reason: "test-fast test backend",
    });
    expect(events).toContainEqual({
      type: "backend-selected",
      backend: "test-fast",
      requested: "auto",
      reason: "test-fast test backend",
    });
  });

  it("auto passes over a software-emulated GPU, which is still selectable by name", async () => {
    registerBackend({
      name: "test-swiftshader",
      priority: 60,
      create: () => ({
        ...partialBackend("test-swiftshader", 60, ["add"]),
        initialize: async () => ({
          available: true,
          reason: "webgl2 on SwiftShader (software)",
          details: { softwareRenderer: true },
        }),
      }),
    });
    await setBackend("auto");
    expect(getBackend()).not.toBe("test-swiftshader");
    await setBackend("test-swiftshader");
    expect(getBackend()).toBe("test-swiftshader");
  });

  it("falls back to js for a missing kernel, visibly: an event once and a count per call", async () => {
    registerBackend({
      name: "test-partial",
      priority: 0,
      create: () => partialBackend("test-partial", 0, ["add"]),
    });
    const a = tensor([1, 2, 3, 4], [2, 2]);
    await setBackend("test-partial");
    const first = matmul(a, a);
    const second = matmul(a, a);
    expect(first.backend).toBe("test-partial");
    expect(first.toArray()).toEqual([7, 10, 15, 22]);
    expect(second.toArray()).toEqual([7, 10, 15, 22]);
    expect(backendStatus().fallbacks["test-partial/matmul"]).toBe(2);
    expect(events.filter((event) => event.type === "kernel-fallback")).toEqual([
      { type: "kernel-fallback", backend: "test-partial", kernel: "matmul" },
    ]);
    // A tensor created on js moved to the active backend when it was used there.
    expect(a.backend).toBe("test-partial");
  });

  it("refuses duplicate registrations and removing js", () => {
    expect(() => registerBackend({ name: "js", priority: 0, create: () => new JsBackend() })).toThrow(
      TensorArgumentError,
    );
    expect(() => unregisterBackend("js")).toThrow(TensorArgumentError);
  });
});
