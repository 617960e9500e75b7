import { describe, expect, it } from "vitest";
import { formatLoss, lossChartSvg, lossChartText, lossScale, lossTicks, stepTicks } from "./loss-chart.js";

describe("loss scale", () => {
  it("is logarithmic for positive losses, so the second half of a falling curve keeps its room", () => {
    const scale = lossScale([2, 0.5, 0.05]);
    expect(scale.logarithmic).toBe(true);
    expect(scale.position(2)).toBeCloseTo(1, 12);
    expect(scale.position(0.05)).toBeCloseTo(0, 12);
    // On a linear axis 0.5 would sit at 23 % of the height; on the log axis at 62 %.
    expect(scale.position(0.5)).toBeCloseTo(Math.log(10) / Math.log(40), 12);
  });

  it("is linear when a loss is zero or negative, and widens a flat curve", () => {
    expect(lossScale([0, 1]).logarithmic).toBe(false);
    const flat = lossScale([1, 1]);
    expect(flat.low).toBeLessThan(1);
    expect(flat.high).toBeGreaterThan(1);
  });

  it("puts ticks at 1-2-5 values inside the range, finer ones on a narrow range", () => {
    expect(lossTicks(lossScale([2.2, 0.04]))).toEqual([0.05, 0.1, 0.2, 0.5, 1, 2]);
    expect(lossTicks(lossScale([1.7, 0.75]))).toEqual([1, 1.5]);
    expect(lossTicks(lossScale([1.7, 0.7]))).toEqual([0.7, 1, 1.5]);
    expect(formatLoss(0.05)).toBe("0.05");
    expect(formatLoss(1.5)).toBe("1.5");
  });

  it("puts step ticks at 1, round numbers and the last step", () => {
    expect(stepTicks(60)).toEqual([1, 10, 20, 30, 40, 50, 60]);
    expect(stepTicks(12)).toEqual([1, 2, 4, 6, 8, 10, 12]);
    expect(stepTicks(3)).toEqual([1, 2, 3]);
    expect(stepTicks(1)).toEqual([1]);
  });
});

describe("charts", () => {
  const lora = Array.from({ length: 30 }, (_, step) => 2 * 0.9 ** step);
  const pissa = lora.map((loss) => loss * 0.95);
  const series = [
    { name: "LoRA", losses: lora, colour: "#1f77b4" },
    { name: "PiSSA", losses: pissa, colour: "#d62728" },
  ];

  it("draws the terminal plot with loss and step ticks and a legend", () => {
    const text = lossChartText(series, 30, 10);
    const lines = text.split("\n");
    expect(lines).toHaveLength(13);
    expect(text).toContain("● LoRA");
    expect(text).toContain("▲ PiSSA");
    expect(text).toContain("log scale");
    expect(lines[10]).toMatch(/└┬.*┬$/);
    expect(lines[11]?.trim()).toMatch(/^1\s+5\s+10\s+15\s+20\s+25\s+30\s+step$/);
    // The first point (both curves at 2, the top) and the last (the lowest losses, at the bottom).
    expect(lines[0]).toMatch(/┤✚/);
    expect(lines[9]).toMatch(/[▲✚]$/);
  });

  it("writes an SVG with a log-scale axis, step ticks and one polyline per curve", () => {
    const svg = lossChartSvg(series, "test");
    expect(svg).toMatch(/^<svg /);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg).toContain("loss (log scale)");
    for (const tick of [1, 10, 20, 30]) expect(svg).toContain(`text-anchor="middle">${tick}</text>`);
    for (const tick of ["0.1", "0.2", "0.5", "1", "2"])
      expect(svg).toContain(`text-anchor="end">${tick}</text>`);
  });
});
