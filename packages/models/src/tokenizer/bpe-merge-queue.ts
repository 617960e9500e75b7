/**
 * run.c's BPE merge loop ("merge the best-scoring adjacent pair, the leftmost on ties, until no adjacent
 * pair is a token") in O(n log n) instead of O(n²): the tokens form a doubly linked list, every candidate
 * pair sits in a binary heap ordered by (score descending, position ascending), and stale candidates (a side
 * already merged away or changed) are dropped when they reach the top.
 *
 * Why it gives run.c's exact result: merges never reorder tokens, so the original index of a pair's left
 * token orders pairs exactly as their current positions do; and the heap's top among valid candidates is
 * the pair run.c's scan would pick (highest score, and of equal scores the leftmost, since run.c replaces
 * its best only on a strictly greater score).
 */

/** How a merge loop looks a pair up: the id of the token spelling `left` + `right`, or `undefined`. */
export type PairLookup = (left: number, right: number) => number | undefined;

/** Parallel arrays of the heap (structure of arrays: no object per candidate). */
interface CandidateHeap {
  score: number[];
  left: number[];
  right: number[];
  merged: number[];
  /** `version[left]` and `version[right]` when the candidate was pushed. */
  leftVersion: number[];
  rightVersion: number[];
  /** Heap order: indices into the arrays above. */
  order: number[];
}

/** True when candidate `a` comes before candidate `b`: higher score, then the leftmost. */
function before(heap: CandidateHeap, a: number, b: number): boolean {
  const scoreA = heap.score[a]!;
  const scoreB = heap.score[b]!;
  return scoreA > scoreB || (scoreA === scoreB && heap.left[a]! < heap.left[b]!);
}

function push(heap: CandidateHeap, candidate: number): void {
  const order = heap.order;
  let index = order.length;
  order.push(candidate);
  while (index > 0) {
    const parent = (index - 1) >> 1;
    if (!before(heap, candidate, order[parent]!)) break;
    order[index] = order[parent]!;
    index = parent;
  }
  order[index] = candidate;
}

function pop(heap: CandidateHeap): number {
  const order = heap.order;
  const top = order[0]!;
  const last = order.pop()!;
  if (order.length === 0) return top;
  let index = 0;
  for (;;) {
    const leftChild = 2 * index + 1;
    if (leftChild >= order.length) break;
    const rightChild = leftChild + 1;
    const child =
      rightChild < order.length && before(heap, order[rightChild]!, order[leftChild]!)
        ? rightChild
        : leftChild;
    if (!before(heap, order[child]!, last)) break;
    order[index] = order[child]!;
    index = child;
  }
  order[index] = last;
  return top;
}

/**
 * Merges `tokens` in place as run.c does and returns it.
 *
 * @param tokens the initial tokens (one per code point or byte), replaced by the merged ones.
 * @param lookup the pair lookup.
 * @param scoreOf the merge score of a token id.
 * @param minimumScore a pair merges only when its score is strictly greater (run.c starts its search at
 *   -1e10, so pairs scoring at or below it never merge; NaN never compares greater either).
 */
export function mergeBestPairs(
  tokens: number[],
  lookup: PairLookup,
  scoreOf: (id: number) => number,
  minimumScore: number,
): number[] {
  const count = tokens.length;
  if (count < 2) return tokens;
  const token = Int32Array.from(tokens);
  const next = new Int32Array(count);
  const previous = new Int32Array(count);
  const version = new Uint32Array(count);
  for (let index = 0; index < count; index++) {
    next[index] = index + 1 < count ? index + 1 : -1;
    previous[index] = index - 1;
  }
  const heap: CandidateHeap = {
    score: [],
    left: [],
    right: [],
    merged: [],
    leftVersion: [],
    rightVersion: [],
    order: [],
  };
  const consider = (left: number, right: number): void => {
    if (left < 0 || right < 0) return;
    const merged = lookup(token[left]!, token[right]!);
    if (merged === undefined) return;
    const score = scoreOf(merged);
    if (!(score > minimumScore)) return;
    const candidate = heap.score.length;
    heap.score.push(score);
    heap.left.push(left);
    heap.right.push(right);
    heap.merged.push(merged);
    heap.leftVersion.push(version[left]!);
    heap.rightVersion.push(version[right]!);
    push(heap, candidate);
  };
  for (let index = 0; index + 1 < count; index++) consider(index, index + 1);
  while (heap.order.length > 0) {
    const candidate = pop(heap);
    const left = heap.left[candidate]!;
    const right = heap.right[candidate]!;
    // Stale: one side was merged into something else (its version moved on) since this pair was seen.
    if (version[left] !== heap.leftVersion[candidate] || version[right] !== heap.rightVersion[candidate]) {
      continue;
    }
    token[left] = heap.merged[candidate]!;
    version[left]!++;
    version[right]!++; // the right token is gone; no candidate may name it again
    const after = next[right]!;
    next[left] = after;
    if (after >= 0) previous[after] = left;
    consider(previous[left]!, left);
    consider(left, after);
  }
  tokens.length = 0;
  for (let index = 0; index >= 0; index = next[index]!) tokens.push(token[index]!);
  return tokens;
}
