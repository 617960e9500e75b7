/** Which of two loss curves fell faster, in words, by the mean loss over the second half of the steps. */

/** One named loss curve. */
export interface NamedLosses {
  readonly name: string;
  readonly losses: readonly number[];
}

/** The verdict of {@link compareLosses}. */
export interface LossComparison {
  /** The name of the curve with the lower second-half mean, or undefined on a tie. */
  readonly faster: string | undefined;
  /** Second-half mean loss of each curve, in the order given. */
  readonly means: readonly [number, number];
  /** The 1-based first and last step the means cover. */
  readonly fromStep: number;
  readonly toStep: number;
  /** The verdict as a sentence for the page. */
  readonly sentence: string;
}

/**
 * The mean loss over steps ⌊n/2⌋+1 … n (1-based) of a curve of n steps: the second half, or the one step
 * when n = 1. Both curves start from the same model output (PiSSA's W_res + BA equals W at initialization,
 * LoRA's BA is zero), so the lower second-half mean is the loss that fell faster.
 */
export function secondHalfMean(losses: readonly number[]): number {
  const half = losses.slice(Math.floor(losses.length / 2));
  return half.reduce((sum, loss) => sum + loss, 0) / half.length;
}

/** Compares two curves of equal length (at least one step) by {@link secondHalfMean}. */
export function compareLosses(first: NamedLosses, second: NamedLosses): LossComparison {
  const n = first.losses.length;
  const means: [number, number] = [secondHalfMean(first.losses), secondHalfMean(second.losses)];
  const fromStep = Math.floor(n / 2) + 1;
  const range = fromStep === n ? `step ${n}` : `steps ${fromStep}–${n}`;
  const [a, b] = means.map((mean) => mean.toFixed(4));
  if (means[0] === means[1]) {
    return {
      faster: undefined,
      means,
      fromStep,
      toStep: n,
      sentence: `On this run neither loss fell faster: mean loss over ${range} was ${a} for both ${first.name} and ${second.name}.`,
    };
  }
  const [winner, loser, winnerMean, loserMean] =
    means[0] < means[1] ? [first, second, a, b] : [second, first, b, a];
  return {
    faster: winner.name,
    means,
    fromStep,
    toStep: n,
    sentence: `On this run ${winner.name}'s loss fell faster: mean loss over ${range} was ${winnerMean} for ${winner.name} against ${loserMean} for ${loser.name}.`,
  };
}
