import type { CausalLM } from "@peftjs/models";

/** The model's logits for a batch, as a flat float32 array (the tensor is released). */
export function logitsOf(model: CausalLM, inputIds: readonly (readonly number[])[]): Float32Array {
  const logits = model.forward(inputIds);
  try {
    return logits.toFloat32Array();
  } finally {
    logits.dispose();
  }
}

/** max |a − b| over two arrays of the same length. */
export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} and ${b.length}`);
  let max = 0;
  for (let index = 0; index < a.length; index++) max = Math.max(max, Math.abs(a[index]! - b[index]!));
  return max;
}

/**
 * The loss curves of one seed: the baseline method's (`first`, e.g. LoRA) and the challenger's (`second`,
 * e.g. PiSSA), trained on the same data with the same settings, one loss per step, equally long.
 */
export interface SeedRun {
  readonly first: readonly number[];
  readonly second: readonly number[];
}

/**
 * How a comparison of two methods over several seeds came out:
 * - `"beyond-noise"`: the 95 % confidence interval of the mean gap excludes zero; `lower` names the method;
 * - `"within-noise"`: the interval includes zero, so no method is named;
 * - `"unmeasured"`: one seed only, so the run-to-run spread is unknown and no method is named.
 */
export type VerdictOutcome = "beyond-noise" | "within-noise" | "unmeasured";

/** The verdict of {@link compareLossRuns}. */
export interface LossVerdict {
  /** The two methods' names, baseline first. */
  readonly names: readonly [string, string];
  /** How many seeds were compared. */
  readonly seeds: number;
  /** The 1-based first and last step of the window the means cover (the second half of the steps). */
  readonly fromStep: number;
  readonly toStep: number;
  /** Each method's mean loss over the window, averaged over the seeds. */
  readonly means: readonly [number, number];
  /** Each seed's relative gap (second − first) / first of the window means: negative when `second` is lower. */
  readonly gaps: readonly number[];
  /** The mean of {@link gaps}. */
  readonly relativeGap: number;
  /** The sample standard deviation of {@link gaps} (undefined for one seed): the run-to-run spread. */
  readonly spread: number | undefined;
  /** Half-width of the 95 % confidence interval of {@link relativeGap}: t(0.975, n − 1)·spread/√n. */
  readonly margin: number | undefined;
  readonly outcome: VerdictOutcome;
  /** The method whose loss fell faster, named only `"beyond-noise"`. */
  readonly lower: string | undefined;
  /** Each method's last loss, averaged over the seeds. */
  readonly finalLosses: readonly [number, number];
  /** True when the last losses rank the methods the other way round than the window means do. */
  readonly finalsDisagree: boolean;
  /** The verdict in sentences, in order: the gap, the noise and verdict, and (when so) the disagreement. */
  readonly sentences: readonly string[];
}

/** Options of {@link compareLossRuns}. */
export interface CompareOptions {
  /**
   * A published finding to cite when, and only when, the run shows it beyond noise: e.g.
   * `{ lower: "PiSSA", source: "the PiSSA paper" }` appends ", as the PiSSA paper reports".
   */
  readonly reported?: { readonly lower: string; readonly source: string };
}

/** Student's t quantile t(0.975, df) for df = 1 … 30 (index df − 1); 1.96 (the normal quantile) beyond. */
const studentT975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** t(0.975, degreesOfFreedom): the two-sided 95 % quantile of Student's t distribution. */
export function studentT(degreesOfFreedom: number): number {
  if (!(Number.isInteger(degreesOfFreedom) && degreesOfFreedom >= 1))
    throw new RangeError(`degrees of freedom must be an integer ≥ 1, got ${degreesOfFreedom}`);
  return studentT975[degreesOfFreedom - 1] ?? 1.96;
}

/**
 * The mean loss over steps ⌊n/2⌋+1 … n (1-based) of a curve of n steps: the second half, or the one step when
 * n = 1. Both curves start from the same model output (LoRA's B is zero, PiSSA's W_res + B₀A₀ equals W), so
 * the lower second-half mean is the loss that fell faster.
 */
export function secondHalfMean(losses: readonly number[]): number {
  const half = losses.slice(Math.floor(losses.length / 2));
  return half.reduce((sum, loss) => sum + loss, 0) / half.length;
}

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

/** A signed percentage with one decimal, e.g. "+1.2 %" or "−0.4 %". */
export function signedPercent(fraction: number): string {
  const text = `${Math.abs(fraction * 100).toFixed(1)} %`;
  return fraction < 0 ? `−${text}` : `+${text}`;
}

/**
 * Compares two methods' loss curves over one or more seeds, honestly. Per seed it takes the relative gap of
 * the second-half means, (m₂ − m₁)/m₁; their spread over the seeds (sample standard deviation) is the
 * run-to-run noise, measured, not assumed. A method is named only when the 95 % confidence interval of the
 * mean gap, mean ± t(0.975, n−1)·sd/√n, excludes zero; with one seed nothing is named. It also says when the
 * last losses rank the methods the other way round, since one step's loss is noisier than a mean over many.
 *
 * @throws RangeError when there are no runs, or curves that are empty, unequal in length or not finite.
 */
export function compareLossRuns(
  names: readonly [string, string],
  runs: readonly SeedRun[],
  options: CompareOptions = {},
): LossVerdict {
  if (runs.length === 0) throw new RangeError("compareLossRuns needs at least one seed's runs");
  const steps = runs[0]!.first.length;
  for (const [index, run] of runs.entries()) {
    for (const curve of [run.first, run.second]) {
      if (curve.length === 0 || curve.length !== steps)
        throw new RangeError(`seed ${index}: curves of ${curve.length} steps, expected ${steps} (and > 0)`);
      const bad = curve.find((loss) => !Number.isFinite(loss));
      if (bad !== undefined) throw new RangeError(`seed ${index}: the loss ${bad} is not finite`);
    }
  }
  const [firstName, secondName] = names;
  const firstMeans = runs.map((run) => secondHalfMean(run.first));
  const secondMeans = runs.map((run) => secondHalfMean(run.second));
  const gaps = runs.map((_, index) => (secondMeans[index]! - firstMeans[index]!) / firstMeans[index]!);
  const relativeGap = mean(gaps);
  const seeds = runs.length;
  const spread =
    seeds < 2
      ? undefined
      : Math.sqrt(gaps.reduce((sum, gap) => sum + (gap - relativeGap) ** 2, 0) / (seeds - 1));
  const margin = spread === undefined ? undefined : (studentT(seeds - 1) * spread) / Math.sqrt(seeds);
  const outcome: VerdictOutcome =
    margin === undefined ? "unmeasured" : Math.abs(relativeGap) > margin ? "beyond-noise" : "within-noise";
  const secondLower = relativeGap < 0;
  const [lowerName, higherName] = secondLower ? [secondName, firstName] : [firstName, secondName];
  const lower = outcome === "beyond-noise" ? lowerName : undefined;
  const means: [number, number] = [mean(firstMeans), mean(secondMeans)];
  const finalLosses: [number, number] = [
    mean(runs.map((run) => run.first.at(-1)!)),
    mean(runs.map((run) => run.second.at(-1)!)),
  ];
  const finalsDisagree =
    relativeGap !== 0 && finalLosses[0] !== finalLosses[1] && finalLosses[1] < finalLosses[0] !== secondLower;

  const fromStep = Math.floor(steps / 2) + 1;
  const window = fromStep === steps ? `step ${steps}` : `steps ${fromStep}–${steps}`;
  const over = seeds === 1 ? "one seed" : `averaged over ${seeds} seeds`;
  const direction = relativeGap === 0 ? "equal" : `${Math.abs(relativeGap * 100).toFixed(1)} % lower`;
  const sentences = [
    `Mean loss over ${window} (${over}): ${firstName} ${means[0].toFixed(4)}, ${secondName} ` +
      `${means[1].toFixed(4)}` +
      (relativeGap === 0 ? " — equal." : ` — ${lowerName}'s is ${direction} than ${higherName}'s.`),
  ];
  if (spread === undefined || margin === undefined) {
    sentences.push(
      "With one seed the run-to-run spread is not measured, so this gap names no winner: run more seeds.",
    );
  } else {
    const noise =
      `From seed to seed the gap varies by ±${(spread * 100).toFixed(1)} % (standard deviation over ` +
      `${seeds} seeds; 95 % interval of the mean gap ${signedPercent(relativeGap - margin)} to ` +
      `${signedPercent(relativeGap + margin)}).`;
    sentences.push(
      outcome === "beyond-noise"
        ? `${noise} Beyond that noise: ${lowerName}'s loss fell faster` +
            (options.reported?.lower === lowerName ? `, as ${options.reported.source} reports.` : ".")
        : `${noise} Within that noise: neither method's loss fell measurably faster on this run.`,
    );
  }
  if (finalsDisagree) {
    sentences.push(
      `The last losses disagree with the means: ${higherName} ended lower${seeds > 1 ? " on average" : ""} ` +
        `(${finalLosses[secondLower ? 0 : 1].toFixed(4)} against ${finalLosses[secondLower ? 1 : 0].toFixed(4)}); ` +
        "one step's loss is noisier than a mean over many.",
    );
  }
  return {
    names,
    seeds,
    fromStep,
    toStep: steps,
    means,
    gaps,
    relativeGap,
    spread,
    margin,
    outcome,
    lower,
    finalLosses,
    finalsDisagree,
    sentences,
  };
}
