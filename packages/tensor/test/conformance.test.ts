import { describe, expect, it } from "vitest";
import { BackendUnavailableError, memory, probeBackends, setBackend } from "../src/index.js";
import { conformanceCases, executeCase, runConformanceCase } from "../src/testing/index.js";

// Every backend that initialises in this Node process (js today; wasm when registered) replays the table.
const infos = await probeBackends();
const availableBackends = infos.filter((info) => info.availability?.available).map((info) => info.name);

describe("conformance on js (the reference itself)", () => {
  for (const testCase of conformanceCases) {
    it(testCase.name, () => {
      if (testCase.expectedError !== undefined) {
        expect(() => executeCase(testCase)).toThrow(
          expect.objectContaining({ name: testCase.expectedError }),
        );
        return;
      }
      const output = executeCase(testCase);
      expect(output.values.length).toBe(output.shape.reduce((product, extent) => product * extent, 1));
      // Only cases marked nonFinite feed non-finite values in; every other result must be finite.
      if (testCase.nonFinite !== true) {
        expect(output.values.every((value) => Number.isFinite(value))).toBe(true);
      }
    });
  }
});

describe("executeCase", () => {
  it("releases every tensor a case creates, including those made inside the case (rotary tables, literals)", () => {
    const before = memory().tensors;
    for (const testCase of conformanceCases) {
      try {
        executeCase(testCase);
      } catch {
        // bad-shape cases throw by design; they must not leak either
      }
    }
    expect(memory().tensors).toBe(before);
  });
});

for (const backend of availableBackends.filter((name) => name !== "js")) {
  describe(`conformance of ${backend} against js`, () => {
    for (const testCase of conformanceCases) {
      it(testCase.name, async () => {
        const result = await runConformanceCase(testCase, backend);
        expect(result.failure).toBeUndefined();
        expect(result.passed).toBe(true);
      });
    }
  });
}

describe("gpu in plain Node", () => {
  it("is unavailable, with a reason, and the error lists the available backends", async () => {
    const error = await setBackend("gpu").then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(BackendUnavailableError);
    const unavailable = error as BackendUnavailableError;
    expect(unavailable.reason.length).toBeGreaterThan(0);
    expect(unavailable.available).toContain("js");
    expect(unavailable.message).toContain(unavailable.reason);
    // The gpu backend is registered by default; its probe says why it cannot run here (gpu.js's webasm/cpu modes do not count).
    const gpu = infos.find((info) => info.name === "gpu");
    expect(gpu?.availability).toMatchObject({ available: false, reason: expect.stringContaining("mode") });
    expect(unavailable.reason).toBe(gpu?.availability?.reason);
  });
});
