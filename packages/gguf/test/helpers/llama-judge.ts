/**
 * llama.cpp as the judge: node-llama-cpp 3.21.1 with its prebuilt CPU binaries (llama.cpp release v0.4.0). It has
 * no raw-logits API; `controlledEvaluate` returns the softmax at every position, whose logarithm is compared with
 * `log_softmax` of the reference logits. KV cache in F32 and flash attention off keep llama.cpp's attention in
 * float32 like transformers'; one thread, because llama.cpp's thread barriers spin and a loaded two-core machine
 * (CI) makes them orders of magnitude slower without changing a result.
 */
import { getLlama, type Llama, LlamaLogLevel, type LlamaModel, type Token } from "node-llama-cpp";
import type { ReferenceLogits } from "./fixtures.js";

/**
 * The project's rule for tests that need a native tool: with the llama.cpp binary loadable they run; without it
 * they fail under CI (`CI` set) and are skipped elsewhere with the reason printed.
 * @param expectedLogs llama.cpp log lines a test expects and hides (everything else at level error is printed)
 * @returns the judge, or undefined when the caller should skip
 */
export async function llamaJudge(
  testFile: string,
  expectedLogs: readonly RegExp[] = [],
): Promise<Llama | undefined> {
  try {
    return await getLlama({
      gpu: false,
      build: "never",
      logLevel: LlamaLogLevel.error,
      progressLogs: false,
      logger: (level, message) => {
        if (!expectedLogs.some((pattern) => pattern.test(message)))
          console.error(`[llama.cpp ${level}] ${message}`);
      },
    });
  } catch (error) {
    const reason = `node-llama-cpp's prebuilt llama.cpp binary cannot be loaded here: ${(error as Error).message}`;
    if (process.env.CI !== undefined)
      throw new Error(`${reason}; CI must run the llama.cpp tests of ${testFile}`);
    console.warn(`${testFile} skipped: ${reason}`);
    return undefined;
  }
}

/** log p(token | prefix) at every position of every sequence: [sequence][position][token]. */
export type LogProbabilities = Float64Array[][];

/**
 * Evaluates `sequences` on a loaded model (with LoRA files applied at scale 1) and returns llama.cpp's
 * log-probabilities of every vocabulary entry at every position.
 */
export async function llamaLogProbabilities(
  model: LlamaModel,
  sequences: readonly (readonly number[])[],
  loraFiles: readonly string[] = [],
): Promise<LogProbabilities> {
  const context = await model.createContext({
    contextSize: 64,
    sequences: sequences.length,
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
    threads: 1,
    ...(loraFiles.length > 0 ? { lora: { adapters: loraFiles.map((filePath) => ({ filePath })) } } : {}),
  });
  try {
    const result: LogProbabilities = [];
    for (const ids of sequences) {
      const sequence = context.getSequence();
      const steps = await sequence.controlledEvaluate(
        ids.map((token) => [token as Token, { generateNext: { probabilities: true } }]),
      );
      result.push(
        steps.map((step) => {
          const probabilities = step?.next?.probabilities;
          if (probabilities === undefined) throw new Error("llama.cpp returned no probabilities");
          const row = new Float64Array(probabilities.size).fill(Number.NEGATIVE_INFINITY);
          for (const [token, probability] of probabilities) row[token] = Math.log(probability);
          return row;
        }),
      );
      sequence.dispose();
    }
    return result;
  } finally {
    await context.dispose();
  }
}

/** How far llama.cpp is from the reference. */
export interface Comparison {
  /** max |log p_llama.cpp − log_softmax(reference)| over the compared positions and the whole vocabulary. */
  readonly worst: number;
  /** Positions where the most likely token differs. */
  readonly argmaxMismatches: number;
  /** Number of positions compared. */
  readonly positions: number;
}

/** Which positions {@link compareWithReference} looks at, and where it checks the argmax. */
export interface ComparisonOptions {
  /** Positions to compare (default all). */
  readonly positions?: (position: number) => boolean;
  /**
   * Check the argmax only where the reference's top-1/top-2 logit gap is at least this (default 0: everywhere).
   * A run with rounded weights may legitimately flip a near-tie.
   */
  readonly argmaxGap?: number;
}

/** Compares llama.cpp's log-probabilities with `log_softmax` of the reference logits (float64). */
export function compareWithReference(
  actual: LogProbabilities,
  reference: ReferenceLogits,
  options: ComparisonOptions = {},
): Comparison {
  const positions = options.positions ?? (() => true);
  const argmaxGap = options.argmaxGap ?? 0;
  const { vocabSize, logits, sequences } = reference;
  let worst = 0;
  let argmaxMismatches = 0;
  let compared = 0;
  sequences.forEach((ids, sequence) => {
    ids.forEach((_, position) => {
      if (!positions(position)) return;
      compared++;
      const offset = (sequence * ids.length + position) * vocabSize;
      const row = logits.subarray(offset, offset + vocabSize);
      let maximum = Number.NEGATIVE_INFINITY;
      let second = Number.NEGATIVE_INFINITY;
      let argmax = 0;
      for (let token = 0; token < vocabSize; token++) {
        const value = row[token] as number;
        if (value > maximum) {
          second = maximum;
          maximum = value;
          argmax = token;
        } else if (value > second) second = value;
      }
      let sum = 0;
      for (let token = 0; token < vocabSize; token++) sum += Math.exp((row[token] as number) - maximum);
      const logSum = maximum + Math.log(sum);
      const mine = actual[sequence]![position]!;
      if (mine.length !== vocabSize)
        throw new Error(`llama.cpp has ${mine.length} tokens, the reference ${vocabSize}`);
      let myArgmax = 0;
      for (let token = 0; token < vocabSize; token++) {
        if ((mine[token] as number) > (mine[myArgmax] as number)) myArgmax = token;
        worst = Math.max(worst, Math.abs((mine[token] as number) - ((row[token] as number) - logSum)));
      }
      if (myArgmax !== argmax && maximum - second >= argmaxGap) argmaxMismatches++;
    });
  });
  return { worst, argmaxMismatches, positions: compared };
}
