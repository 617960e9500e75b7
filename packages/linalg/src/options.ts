import { LinalgArgumentError } from "./errors.js";
import type { ProductMode } from "./internal/linear-operator.js";

/** Throws unless `value` is an integer in [min, max]; `name` and `operation` go into the message. */
export function checkInteger(
  operation: string,
  name: string,
  value: number,
  min: number,
  max: number,
): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new LinalgArgumentError(`${operation}: ${name} = ${value} must be an integer in [${min}, ${max}]`);
  }
  return value;
}

/** Throws unless `value` is a finite number > 0. */
export function checkPositive(operation: string, name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new LinalgArgumentError(`${operation}: ${name} = ${value} must be a finite number > 0`);
  }
  return value;
}

/** Throws unless `value` is undefined (→ `"auto"`) or one of the {@link ProductMode} names. */
export function checkProductMode(operation: string, value: ProductMode | undefined): ProductMode {
  const mode = value ?? "auto";
  if (mode !== "auto" && mode !== "float64" && mode !== "backend") {
    throw new LinalgArgumentError(
      `${operation}: products = ${JSON.stringify(value)} must be "auto", "float64" or "backend"`,
    );
  }
  return mode;
}
