import type { RawTensor } from "@peftjs/io";

/** A float32 RawTensor with the given values (little-endian, as in safetensors). */
export function float32Tensor(values: number[], shape: number[] = [values.length]): RawTensor {
  return { dtype: "F32", shape, data: new Uint8Array(new Float32Array(values).buffer) };
}

/** A RawTensor of `dtype` whose bytes follow a simple pattern seeded by `seed`. */
export function patternTensor(
  dtype: RawTensor["dtype"],
  shape: number[],
  seed: number,
  bytesPerElement: number,
): RawTensor {
  const count = shape.reduce((product, size) => product * size, 1);
  const data = new Uint8Array(count * bytesPerElement);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < data.length; index++) {
    // xorshift32: a cheap deterministic byte stream.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data[index] = state & 0xff;
  }
  return { dtype, shape, data };
}

/** `hex` of bytes, for readable comparisons. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}
