import { describe, expect, it } from "vitest";
import { compareLossRuns, type SeedRun, secondHalfMean, signedPercent, studentT } from "./compare.js";

/** A curve of `steps` losses falling linearly from 2 to `end`. */
function curve(end: number, steps = 10): number[] {
  return Array.from({ length: steps }, (_, step) => 2 + ((end - 2) * step) / (steps - 1));
}

const names = ["LoRA", "PiSSA"] as const;
const reported = { lower: "PiSSA", source: "the PiSSA paper" };

describe("compareLossRuns", () => {
  it("names the method whose loss fell faster when the gap is beyond the seed-to-seed spread", () => {
    // PiSSA ends 10 % lower on every seed, give or take 1 %: a consistent gap, far outside the noise.
    const runs: SeedRun[] = [0.5, 0.51, 0.49, 0.5].map((end, seed) => ({
      first: curve(end),
      second: curve(end * (0.9 + 0.01 * (seed % 2))),
    }));
    const verdict = compareLossRuns(names, runs, { reported });
    expect(verdict.outcome).toBe("beyond-noise");
    expect(verdict.lower).toBe("PiSSA");
    expect(verdict.relativeGap).toBeLessThan(0);
    expect(verdict.spread).toBeGreaterThan(0);
    expect(Math.abs(verdict.relativeGap)).toBeGreaterThan(verdict.margin!);
    expect(verdict.sentences[0]).toContain("PiSSA's is");
    expect(verdict.sentences[0]).toContain("% lower than LoRA's");
    expect(verdict.sentences[1]).toContain(
      "Beyond that noise: PiSSA's loss fell faster, as the PiSSA paper reports.",
    );
    expect(verdict.finalsDisagree).toBe(false);
    expect(verdict.sentences).toHaveLength(2);
  });

  it("cites the paper only for the finding it reports", () => {
    const runs: SeedRun[] = [0.5, 0.51, 0.49].map((end) => ({ first: curve(end * 0.8), second: curve(end) }));
    const verdict = compareLossRuns(names, runs, { reported });
    expect(verdict.lower).toBe("LoRA");
    expect(verdict.sentences.join(" ")).not.toContain("paper");
  });

  it("names no method when the gap is within the measured noise", () => {
    // Seed gaps −3 %, +2 %, −1 %, +1 %: the mean (−0.25 %) is far inside its 95 % interval.
    const runs: SeedRun[] = [0.97, 1.02, 0.99, 1.01].map((factor) => ({
      first: curve(0.5),
      second: curve(0.5).map((loss, step) => (step >= 5 ? loss * factor : loss)),
    }));
    const verdict = compareLossRuns(names, runs, { reported });
    expect(verdict.gaps.map((gap) => Number(gap.toFixed(4)))).toEqual([-0.03, 0.02, -0.01, 0.01]);
    expect(verdict.outcome).toBe("within-noise");
    expect(verdict.lower).toBeUndefined();
    expect(verdict.sentences[1]).toContain("Within that noise: neither method's loss fell measurably faster");
    expect(verdict.sentences.join(" ")).not.toContain("paper");
    // Standard deviation of the four gaps, and t(0.975, 3)·sd/√4.
    expect(verdict.spread).toBeCloseTo(0.022174, 5);
    expect(verdict.margin).toBeCloseTo((3.182 * 0.022174) / 2, 5);
  });

  it("says when the last losses rank the methods the other way round than the means", () => {
    // PiSSA's mean over steps 6–10 is lower, but its last step is higher than LoRA's.
    const first = [2, 1.8, 1.6, 1.4, 1.2, 1.0, 0.9, 0.8, 0.7, 0.5];
    const second = [2, 1.7, 1.4, 1.1, 0.9, 0.7, 0.65, 0.62, 0.6, 0.58];
    const verdict = compareLossRuns(names, [
      { first, second },
      { first: first.map((loss) => loss * 1.01), second },
    ]);
    expect(verdict.means[1]).toBeLessThan(verdict.means[0]);
    expect(verdict.finalsDisagree).toBe(true);
    expect(verdict.sentences.at(-1)).toMatch(
      /^The last losses disagree with the means: LoRA ended lower on average \(0\.5025 against 0\.5800\)/,
    );
  });

  it("does not call a one-seed gap a win", () => {
    const verdict = compareLossRuns(names, [{ first: curve(0.5), second: curve(0.3) }], { reported });
    expect(verdict.outcome).toBe("unmeasured");
    expect(verdict.lower).toBeUndefined();
    expect(verdict.spread).toBeUndefined();
    expect(verdict.sentences[0]).toContain("(one seed)");
    expect(verdict.sentences[1]).toContain("not measured");
  });

  it("covers steps ⌊n/2⌋+1 … n, the one step of a one-step run", () => {
    expect(secondHalfMean([4, 3, 2, 1])).toBe(1.5);
    expect(secondHalfMean([4, 3, 2])).toBe(2.5);
    const one = compareLossRuns(names, [
      { first: [2], second: [1] },
      { first: [2], second: [1.1] },
    ]);
    expect([one.fromStep, one.toStep]).toEqual([1, 1]);
    expect(one.sentences[0]).toContain("Mean loss over step 1 (averaged over 2 seeds)");
  });

  it("refuses empty, unequal or non-finite curves", () => {
    expect(() => compareLossRuns(names, [])).toThrow(RangeError);
    expect(() => compareLossRuns(names, [{ first: [1, 2], second: [1] }])).toThrow(/1 steps, expected 2/);
    expect(() => compareLossRuns(names, [{ first: [1, Number.NaN], second: [1, 1] }])).toThrow(/NaN/);
  });
});

describe("helpers", () => {
  it("has Student's t quantiles, the normal one for large samples", () => {
    expect(studentT(1)).toBe(12.706);
    expect(studentT(3)).toBe(3.182);
    expect(studentT(100)).toBe(1.96);
    expect(() => studentT(0)).toThrow(RangeError);
  });

  it("writes signed percentages", () => {
    expect(signedPercent(0.0123)).toBe("+1.2 %");
    expect(signedPercent(-0.004)).toBe("−0.4 %");
  });
});
