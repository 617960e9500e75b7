import { makeTensor } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";
import { TensorArgumentError } from "../errors.js";
import { assertValidShape, sizeOfShape } from "../ops/shape-utils.js";
import { philoxBlocks } from "./philox.js";

const twoToMinus24 = 2 ** -24;

/** The largest float32 strictly below `value` (for keeping uniform samples below their upper bound). */
function float32Below(value: number): number {
  const bits = new Float32Array([value]);
  const integers = new Int32Array(bits.buffer);
  if (value === 0) return -(2 ** -149);
  integers[0]! += value > 0 ? -1 : 1;
  return bits[0]!;
}

/**
 * A seeded, reproducible random generator over Philox4x32-10. The seed is the key; each block of four 32-bit
 * words uses the next 128-bit counter value. Every draw consumes whole blocks, so a draw's numbers depend only
 * on the seed and on how many blocks earlier draws used (see {@link RandomGenerator.position}).
 */
export class RandomGenerator {
  private readonly key: readonly [number, number];
  private counterLow = 0;
  private counterHigh = 0;

  /** @param seed - a non-negative safe integer or a bigint below 2^64. */
  constructor(seed: number | bigint) {
    let value: bigint;
    if (typeof seed === "bigint") {
      value = seed;
    } else {
      if (!Number.isSafeInteger(seed))
        throw new TensorArgumentError(`createGenerator: seed must be a safe integer, got ${seed}`);
      value = BigInt(seed);
    }
    if (value < 0n || value >= 1n << 64n)
      throw new TensorArgumentError(`createGenerator: seed ${value} is outside [0, 2^64)`);
    this.key = [Number(value & 0xffffffffn), Number(value >> 32n)];
  }

  /** Number of Philox blocks (4 words each) consumed so far. */
  get position(): number {
    return this.counterHigh * 2 ** 32 + this.counterLow;
  }

  /** `count` raw unsigned 32-bit words. */
  uint32Values(count: number): Uint32Array {
    const blocks = Math.ceil(count / 4);
    const words = new Uint32Array(blocks * 4);
    philoxBlocks(this.counterLow, this.counterHigh, 0, 0, this.key, words, 0, blocks);
    // Advance the 64-bit block counter by `blocks` (below 2^32 per draw: a typed array holds fewer words).
    const low = this.counterLow + blocks;
    this.counterLow = low >>> 0;
    if (low > 0xffffffff) this.counterHigh = (this.counterHigh + 1) >>> 0;
    return words.subarray(0, count);
  }

  /** `count` floats uniform in `[low, high)`: 24 random mantissa bits `u = (word >>> 8) · 2⁻²⁴`, then `low + (high − low)·u`. */
  uniformValues(count: number, low = 0, high = 1): Float32Array {
    if (!(low < high) || !Number.isFinite(low) || !Number.isFinite(high)) {
      throw new TensorArgumentError(`uniform: bounds [${low}, ${high}) are not a finite non-empty interval`);
    }
    const words = this.uint32Values(count);
    const values = new Float32Array(count);
    const below = float32Below(high);
    for (let index = 0; index < count; index++) {
      const sample = Math.fround(low + (high - low) * (words[index]! >>> 8) * twoToMinus24);
      values[index] = sample >= high ? below : sample;
    }
    return values;
  }

  /**
   * `count` normal samples by Box–Muller: from words (w1, w2), `u1 = ((w1 >>> 8) + 1)·2⁻²⁴ ∈ (0, 1]`,
   * `u2 = (w2 >>> 8)·2⁻²⁴`, `r = √(−2 ln u1)`: `mean + std·r·cos(2πu2)` and `mean + std·r·sin(2πu2)`.
   */
  normalValues(count: number, mean = 0, std = 1): Float32Array {
    if (!Number.isFinite(mean) || !(std >= 0) || !Number.isFinite(std)) {
      throw new TensorArgumentError(`normal: mean ${mean} and std ${std} must be finite with std ≥ 0`);
    }
    const pairs = Math.ceil(count / 2);
    const words = this.uint32Values(pairs * 2);
    const values = new Float32Array(count);
    for (let pair = 0; pair < pairs; pair++) {
      const u1 = ((words[2 * pair]! >>> 8) + 1) * twoToMinus24;
      const u2 = (words[2 * pair + 1]! >>> 8) * twoToMinus24;
      const radius = Math.sqrt(-2 * Math.log(u1));
      const angle = 2 * Math.PI * u2;
      values[2 * pair] = mean + std * radius * Math.cos(angle);
      if (2 * pair + 1 < count) values[2 * pair + 1] = mean + std * radius * Math.sin(angle);
    }
    return values;
  }

  /** A float32 tensor of uniform samples in `[low, high)`. */
  uniform(shape: readonly number[], low = 0, high = 1): Tensor {
    assertValidShape("uniform", shape);
    return makeTensor(this.uniformValues(sizeOfShape(shape), low, high), shape, "float32");
  }

  /** A float32 tensor of normal samples. */
  normal(shape: readonly number[], mean = 0, std = 1): Tensor {
    assertValidShape("normal", shape);
    return makeTensor(this.normalValues(sizeOfShape(shape), mean, std), shape, "float32");
  }

  /**
   * PyTorch's `kaiming_uniform_` (the default init of `nn.Linear` weights and of LoRA's A):
   * uniform in `[-bound, bound)` with `bound = gain·√(3 / fanIn)`, `gain = √(2 / (1 + a²))`.
   *
   * @param fanIn - input features (columns of a `[out, in]` weight).
   * @param a - negative slope of the leaky ReLU; `√5` gives `bound = 1/√fanIn`, as PyTorch's Linear.
   */
  kaimingUniform(shape: readonly number[], fanIn: number, a = Math.sqrt(5)): Tensor {
    return this.uniform(shape, ...kaimingUniformBounds(fanIn, a));
  }
}

/** The `[-bound, bound]` of {@link RandomGenerator.kaimingUniform}: `bound = √(2/(1+a²))·√(3/fanIn)`. */
export function kaimingUniformBounds(fanIn: number, a = Math.sqrt(5)): [number, number] {
  if (!Number.isInteger(fanIn) || fanIn <= 0)
    throw new TensorArgumentError(`kaimingUniform: fanIn must be a positive integer, got ${fanIn}`);
  const gain = Math.sqrt(2 / (1 + a * a));
  const bound = gain * Math.sqrt(3 / fanIn);
  return [-bound, bound];
}

/** A new Philox4x32-10 generator for `seed` (a non-negative safe integer or a bigint below 2^64). */
export function createGenerator(seed: number | bigint): RandomGenerator {
  return new RandomGenerator(seed);
}
