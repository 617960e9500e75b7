/**
 * A deliberately naive MurmurHash3_x86_128, written straight from the reference C code for one-shot input:
 * bytes are assembled into words one at a time, no streaming, no typed-array views. It is the oracle for
 * the fast streaming implementation (which must agree for every split, offset and length).
 */
function rotl(value: number, bits: number): number {
  return ((value << bits) | (value >>> (32 - bits))) >>> 0;
}

function multiply(left: number, right: number): number {
  return Math.imul(left, right) >>> 0;
}

function add(...values: number[]): number {
  return values.reduce((sum, value) => (sum + value) >>> 0, 0);
}

function fmix(value: number): number {
  let h = value >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = multiply(h, 0x85ebca6b);
  h = (h ^ (h >>> 13)) >>> 0;
  h = multiply(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export function referenceMurmur3x86128(bytes: Uint8Array, seed: number): Uint8Array {
  const c = [0x239b961b, 0xab0e9789, 0x38b34ae5, 0xa1e38b93];
  const rotations = [15, 16, 17, 18];
  const laneRotations = [19, 17, 15, 13];
  const adds = [0x561ccd1b, 0x0bcaa747, 0x96cd1c35, 0x32ac3b17];
  const h = [seed >>> 0, seed >>> 0, seed >>> 0, seed >>> 0];
  const wordAt = (offset: number, available: number): number => {
    let word = 0;
    for (let byte = 0; byte < Math.min(4, available); byte++) word += bytes[offset + byte]! * 2 ** (8 * byte);
    return word >>> 0;
  };
  const mixK = (lane: number, word: number): number =>
    multiply(rotl(multiply(word, c[lane]!), rotations[lane]!), c[(lane + 1) % 4]!);
  const blocks = Math.floor(bytes.length / 16);
  for (let block = 0; block < blocks; block++) {
    for (let lane = 0; lane < 4; lane++) {
      h[lane] = (h[lane]! ^ mixK(lane, wordAt(block * 16 + lane * 4, 4))) >>> 0;
      h[lane] = rotl(h[lane]!, laneRotations[lane]!);
      h[lane] = add(h[lane]!, h[(lane + 1) % 4]!);
      h[lane] = add(multiply(h[lane]!, 5), adds[lane]!);
    }
  }
  const tailStart = blocks * 16;
  const tailLength = bytes.length - tailStart;
  for (let lane = 3; lane >= 0; lane--) {
    const available = tailLength - lane * 4;
    if (available > 0) h[lane] = (h[lane]! ^ mixK(lane, wordAt(tailStart + lane * 4, available))) >>> 0;
  }
  for (let lane = 0; lane < 4; lane++) h[lane] = (h[lane]! ^ bytes.length) >>> 0;
  h[0] = add(h[0]!, h[1]!, h[2]!, h[3]!);
  for (let lane = 1; lane < 4; lane++) h[lane] = add(h[lane]!, h[0]!);
  for (let lane = 0; lane < 4; lane++) h[lane] = fmix(h[lane]!);
  h[0] = add(h[0]!, h[1]!, h[2]!, h[3]!);
  for (let lane = 1; lane < 4; lane++) h[lane] = add(h[lane]!, h[0]!);
  const digest = new Uint8Array(16);
  h.forEach((value, lane) => {
    for (let byte = 0; byte < 4; byte++) digest[lane * 4 + byte] = (value >>> (8 * byte)) & 0xff;
  });
  return digest;
}
