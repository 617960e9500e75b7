/**
 * The base class of every error that peftjs throws on purpose.
 *
 * Each failure has its own subclass (in the package where it happens) with a stable `code`, and its message
 * names the offending values. Several copies of peftjs can live in one bundle, so `instanceof` is not enough:
 * {@link isPeftjsError} recognises errors from any copy through a `Symbol.for` marker.
 */
const marker = Symbol.for("peftjs.error");

/** Options accepted by every {@link PeftjsError} subclass. */
export interface PeftjsErrorOptions {
  /** The underlying error, if this one wraps another. */
  cause?: unknown;
}

/** The base class of every deliberate peftjs error: a stable `code`, an optional `cause`, the offending values in the message. */
export class PeftjsError extends Error {
  /** A stable, machine-readable identifier of the failure, e.g. `"safetensors_header"`. */
  readonly code: string;
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: isPeftjsError reads it through the Symbol.for key.
  private readonly [marker] = true;

  constructor(code: string, message: string, options: PeftjsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }

  /** True for a peftjs error from this or any other copy of the library. */
  static isInstance(value: unknown): value is PeftjsError {
    return isPeftjsError(value);
  }
}

/** True when `value` is an error thrown by peftjs, whichever copy of the library created it. */
export function isPeftjsError(value: unknown): value is PeftjsError {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[marker] === true;
}
