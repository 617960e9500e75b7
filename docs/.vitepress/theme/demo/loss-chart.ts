/** Geometry of the demo's loss chart (an SVG polyline), kept apart from the component so it is testable. */

/** The chart's drawing area in SVG user units. */
export interface ChartBox {
  readonly width: number;
  readonly height: number;
  readonly padding: number;
}

/** What the SVG needs: the polyline's points and the axis labels. */
export interface LossChart {
  readonly points: string;
  readonly maxLoss: number;
  readonly minLoss: number;
}

/**
 * Maps losses to a polyline: step i at x = padding + i/(n−1)·(width − 2·padding), loss scaled linearly
 * between the smallest (bottom) and the largest (top) loss seen. One point is drawn at the left edge.
 */
export function lossChart(losses: readonly number[], box: ChartBox): LossChart {
  if (losses.length === 0) return { points: "", maxLoss: 0, minLoss: 0 };
  const maxLoss = Math.max(...losses);
  const minLoss = Math.min(...losses);
  const span = maxLoss - minLoss || 1;
  const innerWidth = box.width - 2 * box.padding;
  const innerHeight = box.height - 2 * box.padding;
  const points = losses
    .map((loss, step) => {
      const x = box.padding + (losses.length === 1 ? 0 : (step / (losses.length - 1)) * innerWidth);
      const y = box.padding + ((maxLoss - loss) / span) * innerHeight;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(" ");
  return { points, maxLoss, minLoss };
}
