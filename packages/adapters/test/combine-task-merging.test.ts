import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  electSigns,
  magnitudePrune,
  mergeTaskTensors,
  randomPrune,
  type TaskMergePlan,
} from "../src/combine/task-merging.js";
import { caseAdapters } from "./combine-helpers.js";

// The elementwise merges of PEFT's utils/merge_utils.py, on small hand-checked inputs and properties.

const f32 = (values: number[]) => Float32Array.from(values);
const plan = (overrides: Partial<TaskMergePlan>): TaskMergePlan => ({
  pruning: "none",
  electsSign: false,
  density: 1,
  majoritySignMethod: "total",
  ...overrides,
});
const noMasks = () => {
  throw new Error("no mask expected");
};

describe("magnitudePrune (torch.topk of |x|, k = int(density·n))", () => {
  it("keeps exactly k = ⌊density·n⌋ elements, as Python's int(density * numel)", () => {
    const values = f32([0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8, 0.9, -1.0]);
    // 0.3·10 = 3.0000000000000004 → 3; 0.7·10 = 7.000000000000001 → 7; 0.05·10 = 0.5 → 0
    expect(magnitudePrune(values, 0.3)).toEqual(f32([0, 0, 0, 0, 0, 0, 0, -0.8, 0.9, -1.0]));
    expect([...magnitudePrune(values, 0.7)].filter((value) => value !== 0)).toHaveLength(7);
    expect(magnitudePrune(values, 0.05).every((value) => value === 0)).toBe(true);
    expect(magnitudePrune(values, 1)).toEqual(values);
  });

  it("keeps exactly k when |x| ties at the threshold: the lowest indices win", () => {
    // four elements with |x| = 1, k = 3: indices 1, 2, 3 kept (torch leaves this order unspecified)
    expect(magnitudePrune(f32([0.5, 1, -1, 1, -1, 0.25]), 0.5)).toEqual(f32([0, 1, -1, 1, 0, 0]));
    expect(magnitudePrune(f32([0, 0, 0, 0]), 0.5)).toEqual(f32([0, 0, 0, 0]));
  });

  it("property: k kept, each kept |x| ≥ every dropped |x|, kept values unchanged", () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -4, max: 4 }), {
          minLength: 1,
          maxLength: 64,
        }),
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        (list, density) => {
          const values = f32(list);
          const pruned = magnitudePrune(values, density);
          const keep = Math.trunc(density * values.length);
          const nonZero = [...values.keys()].filter((index) => values[index] !== 0);
          const kept = nonZero.filter((index) => pruned[index] !== 0);
          const dropped = nonZero.filter((index) => pruned[index] === 0);
          expect(kept.length).toBe(Math.min(keep, nonZero.length));
          for (const index of kept) expect(pruned[index]).toBe(values[index]);
          const smallestKept = Math.min(...kept.map((index) => Math.abs(values[index] as number)));
          for (const index of dropped)
            expect(Math.abs(values[index] as number)).toBeLessThanOrEqual(smallestKept);
        },
      ),
    );
  });

  it("the combine_more factors have no |x| tie at any density-0.5 threshold, so torch's tie order is moot there", async () => {
    for (const adapter of await caseAdapters("combine_more")) {
      for (const { loraA, loraB } of adapter.modules.values()) {
        for (const data of [loraA.data, loraB.data]) {
          const sorted = Float32Array.from(data, Math.abs).sort();
          const keep = Math.trunc(0.5 * data.length);
          expect(sorted[data.length - keep]).not.toBe(sorted[data.length - keep - 1]);
        }
      }
    }
  });
});

describe("sign election and disjoint merge (TIES)", () => {
  it("total takes the sign of the sum, frequency the sign of the count; zero elects +", () => {
    const tensors = [f32([3, 0, 1]), f32([-1, 0, -1]), f32([-1, 0, 0])];
    expect(electSigns(tensors, "total")).toEqual(Int8Array.from([1, 1, 1]));
    expect(electSigns(tensors, "frequency")).toEqual(Int8Array.from([-1, 1, 1]));
  });

  it("averages the weighted values that agree with the elected sign (weights do not vote)", () => {
    const merged = mergeTaskTensors(
      [f32([2, 1]), f32([4, -3]), f32([-1, 0])],
      [1, -10, 1],
      plan({ pruning: "magnitude", electsSign: true }),
      noMasks,
    );
    // element 0: elected + from 2 + 4 − 1; agreeing 2·1 and 4·(−10) → mean −19 (the weight's sign flips it)
    // element 1: elected − from 1 − 3 + 0; agreeing −3·(−10) = 30, count 1
    expect(merged).toEqual(f32([-19, 30]));
  });

  it("an element nobody agrees on (all pruned) is 0, the divisor clamped to 1", () => {
    const merged = mergeTaskTensors(
      [f32([0, 5]), f32([0, 6])],
      [1, 1],
      plan({ pruning: "magnitude", electsSign: true }),
      noMasks,
    );
    expect(merged).toEqual(f32([0, 5.5]));
  });
});

describe("DARE's random prune", () => {
  it("keeps the masked elements rescaled by 1/density, in float32", () => {
    expect(randomPrune(f32([1, 2, 3, 4]), Uint8Array.from([1, 0, 1, 0]), 0.3)).toEqual(
      f32([Math.fround(1 / Math.fround(0.3)), 0, Math.fround(3 / Math.fround(0.3)), 0]),
    );
  });

  it("asks for one mask per tensor in order, and none at density 1", () => {
    const asked: number[] = [];
    const merged = mergeTaskTensors(
      [f32([1, 1]), f32([2, 2])],
      [1, 1],
      plan({ pruning: "random", density: 0.5 }),
      (index) => {
        asked.push(index);
        return Uint8Array.from(index === 0 ? [1, 0] : [0, 1]);
      },
    );
    expect(asked).toEqual([0, 1]);
    expect(merged).toEqual(f32([2, 4]));
    expect(
      mergeTaskTensors([f32([1]), f32([2])], [1, 1], plan({ pruning: "random", density: 1 }), noMasks),
    ).toEqual(f32([3]));
  });
});
