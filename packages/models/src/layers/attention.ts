import { matmul, reshape, softmax, type Tensor, tensor, transpose } from "@peftjs/tensor";

/** The shapes of one attention computation. */
export interface AttentionShape {
  /** B. */
  readonly batchSize: number;
  /** T, the number of query positions. */
  readonly length: number;
  /** Number of query heads. */
  readonly numHeads: number;
  /** Number of key/value heads (divides `numHeads`). */
  readonly numKeyValueHeads: number;
  /** Width of one head. */
  readonly headDim: number;
}

/** `[B·T, heads·d]` → `[B·heads, T, d]`: one row block per (sequence, head). */
export function splitHeads(
  projected: Tensor,
  batchSize: number,
  length: number,
  heads: number,
  headDim: number,
): Tensor {
  const perHead = transpose(reshape(projected, [batchSize, length, heads, headDim]), [0, 2, 1, 3]);
  return reshape(perHead, [batchSize * heads, length, headDim]);
}

/**
 * The additive attention mask `[T, start + T]` for queries at positions `start … start + T − 1`: 0 where query
 * `i` may see key `j`, −∞ elsewhere. Causal: `j ≤ i`; with a sliding window `W` also `j > i − W`, so each
 * query sees its `W` most recent keys including itself (transformers' sliding-window rule, Mistral and Gemma).
 */
export function causalMask(start: number, length: number, window?: number): Tensor {
  const keyLength = start + length;
  const values = new Float32Array(length * keyLength);
  for (let query = 0; query < length; query++) {
    const position = start + query;
    for (let key = 0; key < keyLength; key++) {
      const visible = key <= position && (window === undefined || key > position - window);
      if (!visible) values[query * keyLength + key] = -Infinity;
    }
  }
  return tensor(values, [length, keyLength]);
}

/**
 * The mask of one attention call: `"causal"` for plain causal attention (the fused softmax skips the masked keys
 * without reading a mask), or an additive `[T, S]` mask from {@link causalMask}.
 */
export type AttentionMask = Tensor | "causal";

/**
 * The {@link AttentionMask} for queries at positions `start … start + T − 1`: `"causal"` when no sliding window
 * cuts a key off (no window, or one at least `start + T` wide), else {@link causalMask}'s tensor.
 */
export function attentionMask(start: number, length: number, window?: number): AttentionMask {
  if (window === undefined || window >= start + length) return "causal";
  return causalMask(start, length, window);
}

/**
 * Grouped-query scaled dot-product attention as transformers' eager path computes it:
 * `softmax(Q·Kᵀ·scale + mask)·V`, query head `h` reading key/value head `⌊h / (heads/kvHeads)⌋` (`repeat_kv`).
 * Instead of repeating keys, the group's query heads are stacked along the sequence axis, which gives the same
 * products without copying keys.
 *
 * @param queries `[B·heads, T, d]` (after RoPE).
 * @param keys `[B·kvHeads, S, d]`, all positions the queries may see (cached ones included).
 * @param values `[B·kvHeads, S, d]`.
 * @param mask `"causal"`, or an additive `[T, S]` mask (see {@link attentionMask}).
 * @param scaling the score factor, usually `d^−½`.
 * @returns the attention output `[B·T, heads·d]`, ready for `o_proj`.
 */
export function groupedQueryAttention(
  queries: Tensor,
  keys: Tensor,
  values: Tensor,
  mask: AttentionMask,
  scaling: number,
  shape: AttentionShape,
): Tensor {
  const { batchSize, length, numHeads, numKeyValueHeads, headDim } = shape;
  const groupSize = numHeads / numKeyValueHeads;
  const keyLength = keys.shape[1]!;
  // [B·kvHeads, group·T, d]: the group's query heads are contiguous, so this reshape needs no copy.
  const grouped = reshape(queries, [batchSize * numKeyValueHeads, groupSize * length, headDim]);
  const scores = reshape(matmul(grouped, keys, { transposeB: true }), [
    batchSize * numKeyValueHeads,
    groupSize,
    length,
    keyLength,
  ]);
  // softmax(scale·scores + mask) in one fused pass: no scaled or masked copy of the scores. The causal option
  // aligns queries to the last keys (a cache's earlier positions are visible), as causalMask(start, T) does.
  const options = mask === "causal" ? { scale: scaling, causal: true } : { scale: scaling, mask };
  const probabilities = reshape(softmax(scores, options), [
    batchSize * numKeyValueHeads,
    groupSize * length,
    keyLength,
  ]);
  const context = matmul(probabilities, values);
  return reshape(transpose(reshape(context, [batchSize, numHeads, length, headDim]), [0, 2, 1, 3]), [
    batchSize * length,
    numHeads * headDim,
  ]);
}
