/** One named loss curve. */
export interface LossSeries {
  readonly name: string;
  readonly losses: readonly number[];
  /** A CSS colour for the SVG plot. */
  readonly colour: string;
}

function range(series: readonly LossSeries[]): { low: number; high: number; steps: number } {
  const all = series.flatMap((entry) => entry.losses);
  const low = Math.min(...all);
  const high = Math.max(...all);
  return {
    low,
    high: high > low ? high : low + 1,
    steps: Math.max(...series.map((entry) => entry.losses.length)),
  };
}

/** An SVG line chart of the loss curves (step on x, loss on y), with axes, ticks and a legend. */
export function lossChartSvg(series: readonly LossSeries[], title: string): string {
  const width = 640;
  const height = 360;
  const margin = { left: 56, right: 16, top: 36, bottom: 40 };
  const { low, high, steps } = range(series);
  const x = (step: number) =>
    margin.left + (step / Math.max(1, steps - 1)) * (width - margin.left - margin.right);
  const y = (loss: number) =>
    margin.top + ((high - loss) / (high - low)) * (height - margin.top - margin.bottom);
  const ticks = Array.from({ length: 5 }, (_, index) => low + ((high - low) * index) / 4);
  const lines = series.map(
    (entry) =>
      `<polyline fill="none" stroke="${entry.colour}" stroke-width="2" points="${entry.losses
        .map((loss, step) => `${x(step).toFixed(1)},${y(loss).toFixed(1)}`)
        .join(" ")}"/>`,
  );
  const legend = series.map(
    (entry, index) =>
      `<rect x="${width - 150}" y="${margin.top + 8 + index * 20}" width="14" height="4" fill="${entry.colour}"/>` +
      `<text x="${width - 130}" y="${margin.top + 14 + index * 20}" font-size="13">${entry.name}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" font-size="15" text-anchor="middle">${title}</text>`,
    `<line x1="${margin.left}" y1="${height - margin.bottom}" x2="${width - margin.right}" y2="${height - margin.bottom}" stroke="#444"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${height - margin.bottom}" stroke="#444"/>`,
    ...ticks.map(
      (tick) =>
        `<text x="${margin.left - 6}" y="${y(tick) + 4}" font-size="11" text-anchor="end">${tick.toFixed(2)}</text>` +
        `<line x1="${margin.left}" y1="${y(tick)}" x2="${width - margin.right}" y2="${y(tick)}" stroke="#eee"/>`,
    ),
    `<text x="${width / 2}" y="${height - 8}" font-size="12" text-anchor="middle">step</text>`,
    `<text x="14" y="${height / 2}" font-size="12" transform="rotate(-90 14 ${height / 2})" text-anchor="middle">loss</text>`,
    ...lines,
    ...legend,
    "</svg>",
  ].join("\n");
}

/**
 * The loss curves as terminal text: one row per step group with a bar per series, e.g.
 * `step  5  LoRA  2.913 ██████████████▌   PiSSA 2.517 ████████████▋`.
 */
export function lossChartText(series: readonly LossSeries[], rows = 10, barWidth = 24): string {
  const { low, high, steps } = range(series);
  const every = Math.max(1, Math.ceil(steps / rows));
  const lines: string[] = [];
  for (let step = 0; step < steps; step += every) {
    const cells = series.map((entry) => {
      const loss = entry.losses[step];
      if (loss === undefined) return "".padEnd(barWidth + entry.name.length + 8);
      const length = Math.max(1, Math.round(((loss - low) / (high - low)) * barWidth));
      return `${entry.name} ${loss.toFixed(3)} ${"█".repeat(length).padEnd(barWidth)}`;
    });
    lines.push(`step ${String(step).padStart(3)}  ${cells.join("  ")}`);
  }
  return lines.join("\n");
}
