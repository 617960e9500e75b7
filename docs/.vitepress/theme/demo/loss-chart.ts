/** Geometry of the demo's loss chart (one SVG polyline per series), kept apart from the component. */

/** The chart's drawing area in SVG user units. */
export interface ChartBox {
  readonly width: number;
  readonly height: number;
  readonly padding: number;
}

/** What the SVG needs: one polyline's points per series (in the order given) and the axis labels. */
export interface LossChart {
  readonly points: readonly string[];
  readonly maxLoss: number;
  readonly minLoss: number;
}

/**
 * Maps the series to polylines on shared axes: step i at x = padding + i/(totalSteps−1)·(width − 2·padding),
 * so curves grow from left to right as steps arrive, and loss scaled linearly between the smallest (bottom)
 * and the largest (top) loss of all series. With `totalSteps` = 1 the one point sits at the left edge.
 */
export function lossChart(
  series: readonly (readonly number[])[],
  totalSteps: number,
  box: ChartBox,
): LossChart {
  const all = series.flat();
  if (all.length === 0) return { points: series.map(() => ""), maxLoss: 0, minLoss: 0 };
  const maxLoss = Math.max(...all);
  const minLoss = Math.min(...all);
  const span = maxLoss - minLoss || 1;
  const lastStep = Math.max(totalSteps, ...series.map((losses) => losses.length)) - 1;
  const innerWidth = box.width - 2 * box.padding;
  const innerHeight = box.height - 2 * box.padding;
  const points = series.map((losses) =>
    losses
      .map((loss, step) => {
        const x = box.padding + (lastStep === 0 ? 0 : (step / lastStep) * innerWidth);
        const y = box.padding + ((maxLoss - loss) / span) * innerHeight;
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      })
      .join(" "),
  );
  return { points, maxLoss, minLoss };
}
