import { compareCodePoints, type Dtype } from "@peftjs/io";
import { Murmur3Hasher128, murmur3x86128 } from "./murmur3.js";

/**
 * A content fingerprint: `"fp1:"` followed by 32 lowercase hex digits (the 16 bytes of a
 * MurmurHash3_x86_128 digest, in digest order). The `fp1` prefix versions the algorithm and input layout, so a
 * future change can never be mistaken for a mismatch of weights.
 */
export type Fingerprint = `fp1:${string}`;

const FINGERPRINT_PATTERN = /^fp1:[0-9a-f]{32}$/;
const encoder = new TextEncoder();

/** True when `value` is a well-formed {@link Fingerprint} string. */
export function isFingerprint(value: unknown): value is Fingerprint {
  return typeof value === "string" && FINGERPRINT_PATTERN.test(value);
}

function toFingerprint(digest: Uint8Array): Fingerprint {
  let hex = "";
  for (const byte of digest) hex += byte.toString(16).padStart(2, "0");
  return `fp1:${hex}`;
}

/**
 * The header hashed in front of a tensor's bytes: the UTF-8 text
 * `"peftjs.tensor.v1\n<dtype>\n<d0,d1,…>\n<byteLength>\n"`, zero-padded to a multiple of 16 bytes so that the
 * data starts on a hash block boundary (the header ends in `\n`, so the padding is unambiguous).
 */
export function tensorFingerprintHeader(
  dtype: Dtype,
  shape: readonly number[],
  byteLength: number,
): Uint8Array {
  const text = encoder.encode(`peftjs.tensor.v1\n${dtype}\n${shape.join(",")}\n${byteLength}\n`);
  const padded = new Uint8Array(Math.ceil(text.byteLength / 16) * 16);
  padded.set(text);
  return padded;
}

/**
 * The fingerprint of one tensor: MurmurHash3_x86_128 (seed 0) of {@link tensorFingerprintHeader} followed by
 * the raw little-endian bytes exactly as safetensors stores them. It therefore depends on dtype, shape and
 * every bit of the data, and on nothing else (not on the name, the file, the alignment in memory, or the
 * platform).
 */
export function fingerprintTensor(tensor: {
  dtype: Dtype;
  shape: readonly number[];
  data: Uint8Array;
}): Fingerprint {
  const hasher = new Murmur3Hasher128(0);
  hasher.update(tensorFingerprintHeader(tensor.dtype, tensor.shape, tensor.data.byteLength));
  hasher.update(tensor.data);
  return toFingerprint(hasher.digest());
}

/**
 * The fingerprint of a whole model: MurmurHash3_x86_128 (seed 0) of the UTF-8 text
 * `"peftjs.model.v1\n"` followed by one line `<JSON-quoted name> <tensor fingerprint>\n` per tensor, sorted by
 * name in code point order. Only the per-tensor fingerprints enter, so after a mutation only the changed
 * tensor is rehashed.
 */
export function fingerprintModel(entries: Iterable<readonly [string, Fingerprint]>): Fingerprint {
  const sorted = [...entries].sort(([left], [right]) => compareCodePoints(left, right));
  let text = "peftjs.model.v1\n";
  for (const [name, fingerprint] of sorted) text += `${JSON.stringify(name)} ${fingerprint}\n`;
  return toFingerprint(murmur3x86128(encoder.encode(text), 0));
}
