import { fromFloat32, toFloat32 } from "@peftjs/io";
import type { Matrix } from "./matrix.js";

/**
 * The values of `a` after a cast to `dtype` and back to float32 (round-to-nearest-even, as torch's `.to()`);
 * `a` itself for F32. PEFT does this to PiSSA/OLoRA factors on a half-precision base.
 */
export function roundThroughDtype(a: Matrix, dtype: "F32" | "F16" | "BF16"): Matrix {
  if (dtype === "F32") return a;
  const bytes = fromFloat32(a.data, dtype);
  const data = toFloat32({ dtype, shape: [a.rows, a.columns], data: bytes });
  return { rows: a.rows, columns: a.columns, data };
}
