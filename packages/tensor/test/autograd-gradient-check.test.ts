/**
 * Gradient checks in Node: the shared table of `@peftjs/tensor/testing` (`gradientCheckCases`: every
 * differentiable op on small shapes, float32 autograd against central finite differences of a float64 reference
 * forward pass) replayed on every backend that trains in Node (`js`, `wasm`), at each case's stated tolerance
 * (the error analysis is in `src/testing/gradient-check-cases.ts`: forward 1e-5, gradients 1e-4 relative to
 * the largest magnitude). A fast-check property adds random broadcasting shape pairs for the binary ops. The
 * browser side (`test/browser/autograd-browser.test.ts`) replays the same table on the gpu backend.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeBackends, setBackend } from "../src/index.js";
import {
  type BinaryGradientOp,
  binaryGradientCase,
  defaultGradientTolerance,
  type GradientCheckResult,
  gradientCheckCases,
  gradientCheckSeed,
  runGradientCheck,
} from "../src/testing/index.js";

const trainingBackends = (await probeBackends())
  .filter((info) => info.availability?.available)
  .map((info) => info.name);

describe.each(trainingBackends)(
  "gradient checks on %s (float32 autograd vs float64 finite differences)",
  (backend) => {
    const results: GradientCheckResult[] = [];
    beforeAll(async () => {
      await setBackend(backend);
    });
    afterAll(async () => {
      await setBackend("js");
      // Cases at the default tolerance; the few that state a wider one (a bfloat16 rounding) are reported apart.
      const atDefault = results.filter(
        (result) =>
          result.tolerance.forward === defaultGradientTolerance.forward &&
          result.tolerance.gradient === defaultGradientTolerance.gradient,
      );
      const worst = (key: "forwardError" | "gradientError") =>
        Math.max(...atDefault.map((result) => result[key]));
      console.info(
        `gradient checks on ${backend}: ${results.length} table cases, worst forward error ${worst("forwardError")}, worst gradient error ${worst("gradientError")} (relative, over the ${atDefault.length} at the default tolerance)`,
      );
    });

    it("includes wasm among the backends checked in Node", () => {
      expect(trainingBackends).toEqual(expect.arrayContaining(["js", "wasm"]));
    });

    it("broadcasting binary ops on random shape pairs (fast-check)", () => {
      // A result shape of rank ≤ 3; each operand drops some leading axes and sets some others to 1.
      const operand = (shape: readonly number[]) =>
        fc
          .tuple(
            fc.integer({ min: 0, max: shape.length }),
            fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
          )
          .map(([dropped, ones]) =>
            shape.slice(dropped).map((extent, axis) => (ones[axis + dropped] ? 1 : extent)),
          );
      const pair = fc
        .array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 3 })
        .chain((shape) => fc.tuple(operand(shape), operand(shape)));
      const operations: fc.Arbitrary<BinaryGradientOp> = fc.constantFrom("add", "sub", "mul", "div");
      fc.assert(
        fc.property(pair, operations, ([aShape, bShape], op) => {
          const result = runGradientCheck(binaryGradientCase(op, aShape, bShape), 7);
          if (!result.passed) throw new Error(`${result.name}: ${result.failure}`);
        }),
        { numRuns: 40, seed: 20261128 },
      );
    });

    gradientCheckCases.forEach((testCase, caseIndex) => {
      it(testCase.name, () => {
        const result = runGradientCheck(testCase, gradientCheckSeed(caseIndex));
        results.push(result);
        expect(result.backend).toBe(backend);
        expect(result.failure).toBeUndefined();
        expect(result.leakedTensors).toBe(0);
        expect(result.forwardError).toBeLessThanOrEqual(result.tolerance.forward);
        expect(result.gradientError).toBeLessThanOrEqual(result.tolerance.gradient);
      });
    });
  },
);
