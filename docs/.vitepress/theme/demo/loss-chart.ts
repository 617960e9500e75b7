/**
 * Geometry of the browser demo's loss chart (one SVG polyline per curve), kept apart from the component. The
 * log-scale loss axis and the ticks are the command-line demo's (`apps/peftjs/src/demo/loss-chart.ts`), so
 * both demos draw the same axes.
 */
import { formatLoss, lossScale, lossTicks, stepTicks } from "../../../../apps/peftjs/src/demo/loss-chart.js";

/** The chart's drawing area in SVG user units; the plot sits inside the margins. */
export interface ChartBox {
  readonly width: number;
  readonly height: number;
  readonly margin: {
    readonly left: number;
    readonly right: number;
    readonly top: number;
    readonly bottom: number;
  };
}

/** One tick of an axis: where it sits (x or y in SVG units) and its label. */
export interface Tick {
  readonly at: number;
  readonly label: string;
}

/** What the SVG needs: one polyline's points per curve (in the order given) and both axes' ticks. */
export interface LossChart {
  readonly points: readonly string[];
  readonly lossTicks: readonly Tick[];
  readonly stepTicks: readonly Tick[];
  /** Whether the loss axis is logarithmic (every loss > 0) or linear. */
  readonly logarithmic: boolean;
}

/**
 * Maps the curves to polylines on shared axes: step i (0-based) at x = left + i/(totalSteps − 1)·plot width,
 * so curves grow from left to right as steps arrive, and loss on a log scale between the smallest (bottom)
 * and the largest (top) loss of all curves. With `totalSteps` = 1 the one point sits at the left edge.
 */
export function lossChart(
  curves: readonly (readonly number[])[],
  totalSteps: number,
  box: ChartBox,
): LossChart {
  const all = curves.flat();
  const { margin } = box;
  const plotWidth = box.width - margin.left - margin.right;
  const plotHeight = box.height - margin.top - margin.bottom;
  const steps = Math.max(totalSteps, ...curves.map((losses) => losses.length));
  const x = (step: number) => margin.left + (steps <= 1 ? 0 : (step / (steps - 1)) * plotWidth);
  const xTicks = stepTicks(steps).map((tick) => ({ at: x(tick - 1), label: String(tick) }));
  if (all.length === 0)
    return { points: curves.map(() => ""), lossTicks: [], stepTicks: xTicks, logarithmic: true };
  const scale = lossScale(all);
  const y = (loss: number) => margin.top + (1 - scale.position(loss)) * plotHeight;
  const points = curves.map((losses) =>
    losses.map((loss, step) => `${x(step).toFixed(1)},${y(loss).toFixed(1)}`).join(" "),
  );
  const yTicks = lossTicks(scale).map((tick) => ({ at: y(tick), label: formatLoss(tick) }));
  return { points, lossTicks: yTicks, stepTicks: xTicks, logarithmic: scale.logarithmic };
}
