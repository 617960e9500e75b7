/**
 * Loss charts for the demos: a terminal plot and an SVG file, on a log-scale loss axis (a loss that falls
 * from 2 to 0.05 keeps its second half visible) with ticks on both axes. The scale and tick helpers are
 * shared with the documentation site's browser demo.
 */

/** One named loss curve. */
export interface LossSeries {
  readonly name: string;
  readonly losses: readonly number[];
  /** A CSS colour for the SVG plot. */
  readonly colour: string;
  /** The character that marks this curve in the terminal plot (default: ● for the first, ▲, ■, ◆). */
  readonly marker?: string;
  /** Draw the curve thin and pale (e.g. the other seeds of a method); not in the legend. */
  readonly faint?: boolean;
}

/** A loss axis from `low` to `high`: logarithmic when every loss is positive, linear otherwise. */
export interface LossScale {
  readonly low: number;
  readonly high: number;
  readonly logarithmic: boolean;
  /** Where `loss` sits between low (0) and high (1). */
  position(loss: number): number;
}

/** The loss axis spanning every loss given (log when all are > 0; a flat curve gets a span around it). */
export function lossScale(losses: readonly number[]): LossScale {
  const finite = losses.filter((loss) => Number.isFinite(loss));
  if (finite.length === 0) return linearScale(0, 1);
  let low = Math.min(...finite);
  let high = Math.max(...finite);
  const logarithmic = low > 0;
  if (high === low) {
    low = logarithmic ? low / 1.1 : low - 0.5;
    high = logarithmic ? high * 1.1 : high + 0.5;
  }
  if (!logarithmic) return linearScale(low, high);
  const span = Math.log(high / low);
  return { low, high, logarithmic, position: (loss) => Math.log(loss / low) / span };
}

function linearScale(low: number, high: number): LossScale {
  return { low, high, logarithmic: false, position: (loss) => (loss - low) / (high - low) };
}

/**
 * Tick values for a loss axis: on a log scale the 1-2-5 values (…, 0.1, 0.2, 0.5, 1, 2, …) inside the range,
 * refined to 1-1.5-2-3-5-7 when fewer than three fall inside, plus the range's ends when still fewer than two;
 * on a linear scale five evenly spaced values. Sorted ascending.
 */
export function lossTicks(scale: LossScale): number[] {
  const { low, high } = scale;
  if (!scale.logarithmic) return Array.from({ length: 5 }, (_, index) => low + ((high - low) * index) / 4);
  const inside = (mantissas: readonly number[]) => {
    const ticks: number[] = [];
    for (let exponent = Math.floor(Math.log10(low)); exponent <= Math.ceil(Math.log10(high)); exponent++) {
      for (const mantissa of mantissas) {
        const value = Number((mantissa * 10 ** exponent).toPrecision(6));
        if (value >= low * (1 - 1e-9) && value <= high * (1 + 1e-9)) ticks.push(value);
      }
    }
    return ticks;
  };
  let ticks = inside([1, 2, 5]);
  if (ticks.length < 3) ticks = inside([1, 1.5, 2, 3, 5, 7]);
  if (ticks.length < 2) ticks = [...new Set([low, ...ticks, high])];
  return ticks.sort((a, b) => a - b);
}

/** A tick label with as few digits as tell the ticks apart (at most four significant ones). */
export function formatLoss(value: number): string {
  return Number(value.toPrecision(value >= 0.01 ? 3 : 2)).toString();
}

/**
 * Step ticks (1-based) for an axis of `steps` steps: 1, the last step, and round multiples (1, 2, 5, 10, 20,
 * 50, … apart) between them, about `count` in all.
 */
export function stepTicks(steps: number, count = 7): number[] {
  if (steps <= 1) return [1];
  const rough = (steps - 1) / Math.max(1, count - 1);
  const magnitude = Math.max(1, 10 ** Math.floor(Math.log10(rough)));
  const every = [1, 2, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= rough)!;
  const ticks = [1];
  for (let tick = every; tick < steps; tick += every) if (tick - 1 >= every / 2) ticks.push(tick);
  if (steps - ticks.at(-1)! < every / 2 && ticks.length > 1) ticks.pop();
  ticks.push(steps);
  return ticks;
}

const defaultMarkers = ["●", "▲", "■", "◆"];

/**
 * The loss curves as a terminal plot: loss (log scale) up, step along, one marker character per curve,
 * `✚` where curves share a cell, tick labels on both axes and a legend, e.g.
 * ```
 *    2 ┤●
 *      │ ●▲
 *    1 ┤   ●●▲▲●
 *  0.5 ┤        ▲●●●
 *      └┬────────┬──┬
 *       1       50 60   step    ● LoRA  ▲ PiSSA
 * ```
 */
export function lossChartText(series: readonly LossSeries[], width = 60, height = 12): string {
  const visible = series.filter((entry) => entry.losses.length > 0);
  const steps = Math.max(1, ...visible.map((entry) => entry.losses.length));
  const scale = lossScale(visible.flatMap((entry) => entry.losses));
  const columns = Math.min(width, steps);
  const column = (step: number) => (steps === 1 ? 0 : Math.round((step / (steps - 1)) * (columns - 1)));
  const row = (loss: number) => Math.round((1 - scale.position(loss)) * (height - 1));
  const grid = Array.from({ length: height }, () => Array<string>(columns).fill(" "));
  visible.forEach((entry, index) => {
    const marker = entry.marker ?? defaultMarkers[index % defaultMarkers.length]!;
    // Several steps per column: plot the column's mean loss once.
    const buckets = new Map<number, number[]>();
    entry.losses.forEach((loss, step) => {
      if (Number.isFinite(loss)) buckets.set(column(step), [...(buckets.get(column(step)) ?? []), loss]);
    });
    for (const [x, losses] of buckets) {
      const y = row(losses.reduce((sum, loss) => sum + loss, 0) / losses.length);
      const cells = grid[y]!;
      cells[x] = cells[x] === " " || cells[x] === marker ? marker : "✚";
    }
  });
  const ticks = lossTicks(scale);
  const labels = new Map(ticks.map((tick) => [row(tick), formatLoss(tick)]));
  const labelWidth = Math.max(...[...labels.values()].map((label) => label.length));
  const lines = grid.map((cells, y) => {
    const label = labels.get(y);
    return `${(label ?? "").padStart(labelWidth)} ${label === undefined ? "│" : "┤"}${cells.join("")}`;
  });
  const xTicks = stepTicks(steps);
  const axis = Array<string>(columns).fill("─");
  const tickLabels = Array<string>(columns + 8).fill(" ");
  for (const tick of xTicks) {
    const x = column(tick - 1);
    axis[x] = "┬";
    const text = String(tick);
    const start = Math.min(Math.max(0, x - Math.floor((text.length - 1) / 2)), columns + 8 - text.length);
    if (tickLabels.slice(Math.max(0, start - 1), start + text.length + 1).some((cell) => cell !== " "))
      continue;
    for (let offset = 0; offset < text.length; offset++) tickLabels[start + offset] = text[offset]!;
  }
  const legend = visible
    .filter((entry) => entry.faint !== true)
    .map(
      (entry) =>
        `${entry.marker ?? defaultMarkers[visible.indexOf(entry) % defaultMarkers.length]} ${entry.name}`,
    )
    .join("  ");
  lines.push(`${"".padStart(labelWidth)} └${axis.join("")}`);
  lines.push(`${"".padStart(labelWidth)}  ${tickLabels.join("").trimEnd()}   step`);
  lines.push(
    `${"".padStart(labelWidth)}  loss (${scale.logarithmic ? "log scale" : "linear"}) by step:  ${legend}`,
  );
  return lines.join("\n");
}

/** An SVG line chart of the loss curves: step along x, loss on a log-scale y axis, ticks and a legend. */
export function lossChartSvg(series: readonly LossSeries[], title: string): string {
  const width = 640;
  const height = 360;
  const margin = { left: 56, right: 16, top: 36, bottom: 44 };
  const visible = series.filter((entry) => entry.losses.length > 0);
  const scale = lossScale(visible.flatMap((entry) => entry.losses));
  const steps = Math.max(1, ...visible.map((entry) => entry.losses.length));
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const x = (step: number) => margin.left + (steps === 1 ? 0 : (step / (steps - 1)) * plotWidth);
  const y = (loss: number) => margin.top + (1 - scale.position(loss)) * plotHeight;
  const bottom = height - margin.bottom;
  const lines = visible.map(
    (entry) =>
      `<polyline fill="none" stroke="${entry.colour}" stroke-width="${entry.faint ? 1 : 2}"` +
      `${entry.faint ? ' stroke-opacity="0.35"' : ""} points="${entry.losses
        .map((loss, step) => `${x(step).toFixed(1)},${y(loss).toFixed(1)}`)
        .join(" ")}"/>`,
  );
  const legend = visible
    .filter((entry) => entry.faint !== true)
    .map(
      (entry, index) =>
        `<rect x="${width - 150}" y="${margin.top + 8 + index * 20}" width="14" height="4" fill="${entry.colour}"/>` +
        `<text x="${width - 130}" y="${margin.top + 14 + index * 20}" font-size="13">${entry.name}</text>`,
    );
  const yTicks = lossTicks(scale).map(
    (tick) =>
      `<text x="${margin.left - 6}" y="${(y(tick) + 4).toFixed(1)}" font-size="11" text-anchor="end">` +
      `${formatLoss(tick)}</text>` +
      `<line x1="${margin.left}" y1="${y(tick).toFixed(1)}" x2="${width - margin.right}" ` +
      `y2="${y(tick).toFixed(1)}" stroke="#eee"/>`,
  );
  const xTicks = stepTicks(steps).map(
    (tick) =>
      `<line x1="${x(tick - 1).toFixed(1)}" y1="${bottom}" x2="${x(tick - 1).toFixed(1)}" y2="${bottom + 5}" ` +
      `stroke="#444"/><text x="${x(tick - 1).toFixed(1)}" y="${bottom + 17}" font-size="11" ` +
      `text-anchor="middle">${tick}</text>`,
  );
  const axisName = scale.logarithmic ? "loss (log scale)" : "loss";
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" font-size="15" text-anchor="middle">${title}</text>`,
    ...yTicks,
    `<line x1="${margin.left}" y1="${bottom}" x2="${width - margin.right}" y2="${bottom}" stroke="#444"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${bottom}" stroke="#444"/>`,
    ...xTicks,
    `<text x="${margin.left + plotWidth / 2}" y="${height - 6}" font-size="12" text-anchor="middle">step</text>`,
    `<text x="14" y="${height / 2}" font-size="12" transform="rotate(-90 14 ${height / 2})" ` +
      `text-anchor="middle">${axisName}</text>`,
    ...lines,
    ...legend,
    "</svg>",
  ].join("\n");
}
