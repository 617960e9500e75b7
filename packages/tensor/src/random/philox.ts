/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011; Random123).
 * A counter-based generator: block `i` of output is a pure function of (counter i, key), so the same seed
 * gives the same numbers on every backend and in every JavaScript engine. Exact 32-bit integer arithmetic.
 */

const multiplier0 = 0xd2511f53;
const multiplier1 = 0xcd9e8d57;
/** Key schedule increments ("Weyl" constants: golden ratio and √3 − 1, as 32-bit fractions). */
const keyIncrement0 = 0x9e3779b9;
const keyIncrement1 = 0xbb67ae85;

/**
 * High 32 bits of the 64-bit product of two unsigned 32-bit integers. The double product `left·right` is off by
 * at most 2¹⁰ (half an ulp at 2⁶⁴) and so is its difference with the exact low word `imul(left, right)`:
 * `(left·right − low) / 2³²` lies within 2⁻²¹ of the integer high word, which rounding recovers exactly.
 */
export function multiplyHigh(left: number, right: number): number {
  return Math.round((left * right - (Math.imul(left, right) >>> 0)) / 4294967296);
}

/**
 * One Philox4x32-10 block: 4 output words from a 4-word counter and a 2-word key (all unsigned 32-bit).
 * Writes into `output` (length ≥ 4) at `offset`.
 */
export function philox4x32(
  counter: readonly number[],
  key: readonly number[],
  output: Uint32Array,
  offset = 0,
): void {
  philoxBlocks(
    counter[0]! >>> 0,
    counter[1]! >>> 0,
    counter[2]! >>> 0,
    counter[3]! >>> 0,
    key,
    output,
    offset,
    1,
  );
}

/**
 * `blocks` consecutive Philox4x32-10 blocks into `output` from `offset`: counters (c0 + i, c1, c2, c3) with the
 * carry of c0 into c1 (c2 and c3 stay put, as a 64-bit counter in c0..c1).
 */
export function philoxBlocks(
  counter0: number,
  counter1: number,
  counter2: number,
  counter3: number,
  key: readonly number[],
  output: Uint32Array,
  offset: number,
  blocks: number,
): void {
  const key0 = key[0]! >>> 0;
  const key1 = key[1]! >>> 0;
  let low = counter0;
  let high = counter1;
  for (let block = 0, at = offset; block < blocks; block++, at += 4) {
    let c0 = low;
    let c1 = high;
    let c2 = counter2;
    let c3 = counter3;
    let k0 = key0;
    let k1 = key1;
    for (let round = 0; round < 10; round++) {
      // (hi0, lo0) = M0 · c0, (hi1, lo1) = M1 · c2; c' = [hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0].
      const low0 = Math.imul(multiplier0, c0) >>> 0;
      const high0 = Math.round((multiplier0 * c0 - low0) / 4294967296);
      const low1 = Math.imul(multiplier1, c2) >>> 0;
      const high1 = Math.round((multiplier1 * c2 - low1) / 4294967296);
      c0 = (high1 ^ c1 ^ k0) >>> 0;
      c1 = low1;
      c2 = (high0 ^ c3 ^ k1) >>> 0;
      c3 = low0;
      k0 = (k0 + keyIncrement0) >>> 0;
      k1 = (k1 + keyIncrement1) >>> 0;
    }
    output[at] = c0;
    output[at + 1] = c1;
    output[at + 2] = c2;
    output[at + 3] = c3;
    low = (low + 1) >>> 0;
    if (low === 0) high = (high + 1) >>> 0;
  }
}
