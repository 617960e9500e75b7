import { type Dtype, dtypeBitSize, isDtype, type RawTensor } from "@peftjs/io";
import { InvalidTensorError } from "./errors.js";
import { type Fingerprint, fingerprintTensor } from "./fingerprint.js";

/** Gives this package's own modules read access to a frozen tensor's bytes (for hashing and saving). */
let borrow: (tensor: FrozenTensor) => Uint8Array;
/** Lets this package's own modules build a frozen tensor around bytes it exclusively owns. */
let wrap: (dtype: Dtype, shape: readonly number[], data: Uint8Array) => FrozenTensor;

/** Checks dtype, shape and byte length of `raw`, naming the tensor in the error. */
function validateRaw(raw: RawTensor, name: string): void {
  if (!isDtype(raw.dtype)) throw new InvalidTensorError(name, `unknown dtype ${JSON.stringify(raw.dtype)}`);
  if (!Array.isArray(raw.shape) || raw.shape.some((size) => !Number.isSafeInteger(size) || size < 0)) {
    throw new InvalidTensorError(
      name,
      `shape ${JSON.stringify(raw.shape)} is not a list of non-negative integers`,
    );
  }
  if (!(raw.data instanceof Uint8Array)) throw new InvalidTensorError(name, "data is not a Uint8Array");
  const elements = raw.shape.reduce((product, size) => product * size, 1);
  const expectedBits = elements * dtypeBitSize(raw.dtype);
  if (expectedBits !== raw.data.byteLength * 8) {
    throw new InvalidTensorError(
      name,
      `${raw.dtype} [${raw.shape.join(", ")}] needs ${expectedBits / 8} bytes but data has ${raw.data.byteLength}`,
    );
  }
}

/**
 * An immutable tensor at storage level: a dtype, a shape and a private copy of the little-endian bytes (bf16
 * stays bf16). No method hands out the stored bytes themselves: {@link FrozenTensor.toRaw} and
 * {@link FrozenTensor.copyBytes} return copies, so nothing outside can write into a frozen tensor. Its
 * {@link FrozenTensor.fingerprint} is computed once, on first use, and cached.
 *
 * Convert to a compute tensor with `fromRaw(frozen.toRaw())` from `@peftjs/tensor`.
 */
export class FrozenTensor {
  /** The safetensors element type, e.g. `"F32"` or `"BF16"`. */
  readonly dtype: Dtype;
  /** The dimensions (a frozen array). */
  readonly shape: readonly number[];
  /** Number of elements (product of the shape; 1 for a scalar). */
  readonly elementCount: number;
  readonly #data: Uint8Array;
  #fingerprint: Fingerprint | undefined;

  static {
    borrow = (tensor) => tensor.#data;
    wrap = (dtype, shape, data) => new FrozenTensor(dtype, shape, data);
  }

  private constructor(dtype: Dtype, shape: readonly number[], data: Uint8Array) {
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.elementCount = shape.reduce((product, size) => product * size, 1);
    this.#data = data;
    Object.freeze(this);
  }

  /**
   * Freezes a storage tensor by copying its bytes, so later writes to `raw.data` cannot reach the frozen
   * tensor. Throws {@link InvalidTensorError} when dtype, shape and byte length disagree.
   *
   * @param raw - the tensor to copy
   * @param name - used in error messages only
   */
  static from(raw: RawTensor, name = "tensor"): FrozenTensor {
    validateRaw(raw, name);
    return new FrozenTensor(raw.dtype, raw.shape, raw.data.slice());
  }

  /** Size of the data in bytes. */
  get byteLength(): number {
    return this.#data.byteLength;
  }

  /** The content fingerprint over dtype, shape and bytes (see {@link fingerprintTensor}); cached. */
  get fingerprint(): Fingerprint {
    this.#fingerprint ??= fingerprintTensor({ dtype: this.dtype, shape: this.shape, data: this.#data });
    return this.#fingerprint;
  }

  /** True once the fingerprint has been computed (so reading it is free). */
  get hasFingerprint(): boolean {
    return this.#fingerprint !== undefined;
  }

  /** A fresh {@link RawTensor} with a copy of the bytes; writing into it does not touch this tensor. */
  toRaw(): RawTensor {
    return { dtype: this.dtype, shape: [...this.shape], data: this.#data.slice() };
  }

  /** A copy of the raw little-endian bytes. */
  copyBytes(): Uint8Array {
    return this.#data.slice();
  }

  /** True when `other` has the same dtype, shape and bytes (bit for bit; NaN payloads and -0 included). */
  equals(other: FrozenTensor): boolean {
    if (other === this) return true;
    if (other.dtype !== this.dtype || other.shape.length !== this.shape.length) return false;
    if (other.shape.some((size, axis) => size !== this.shape[axis])) return false;
    const left = this.#data;
    const right = other.#data;
    if (left.byteLength !== right.byteLength) return false;
    for (let index = 0; index < left.byteLength; index++) if (left[index] !== right[index]) return false;
    return true;
  }
}

/**
 * Freezes bytes that no one else holds (a buffer this package just decoded), without copying. Internal to this
 * package, never exported: the caller guarantees that no other reference to `raw.data` survives.
 */
export function adoptRawTensor(raw: RawTensor, name: string): FrozenTensor {
  validateRaw(raw, name);
  return wrap(raw.dtype, raw.shape, raw.data);
}

/** Read-only access to the stored bytes for this package's hashing and serialisation. Never export. */
export function borrowBytes(tensor: FrozenTensor): Uint8Array {
  return borrow(tensor);
}
