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

/** High 32 bits of the 64-bit product of two unsigned 32-bit integers, from 16-bit halves (exact in doubles). */
export function multiplyHigh(left: number, right: number): number {
  const leftHigh = left >>> 16;
  const leftLow = left & 0xffff;
  const rightHigh = right >>> 16;
  const rightLow = right & 0xffff;
  const lowLow = leftLow * rightLow;
  const lowHigh = leftLow * rightHigh;
  const highLow = leftHigh * rightLow;
  const highHigh = leftHigh * rightHigh;
  // Carry out of bit 32 from the middle terms: (ll >> 16) + low halves of the cross products.
  const middle = (lowLow >>> 16) + (lowHigh & 0xffff) + (highLow & 0xffff);
  return (highHigh + (lowHigh >>> 16) + (highLow >>> 16) + (middle >>> 16)) >>> 0;
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
  let c0 = counter[0]! >>> 0;
  let c1 = counter[1]! >>> 0;
  let c2 = counter[2]! >>> 0;
  let c3 = counter[3]! >>> 0;
  let k0 = key[0]! >>> 0;
  let k1 = key[1]! >>> 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + keyIncrement0) >>> 0;
      k1 = (k1 + keyIncrement1) >>> 0;
    }
    // (hi0, lo0) = M0 · c0, (hi1, lo1) = M1 · c2; c' = [hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0].
    const high0 = multiplyHigh(multiplier0, c0);
    const low0 = Math.imul(multiplier0, c0) >>> 0;
    const high1 = multiplyHigh(multiplier1, c2);
    const low1 = Math.imul(multiplier1, c2) >>> 0;
    c0 = (high1 ^ c1 ^ k0) >>> 0;
    c1 = low1;
    c2 = (high0 ^ c3 ^ k1) >>> 0;
    c3 = low0;
  }
  output[offset] = c0;
  output[offset + 1] = c1;
  output[offset + 2] = c2;
  output[offset + 3] = c3;
}
