/**
 * llama.cpp's Llama graph applies RoPE to interleaved pairs (x₀,x₁), (x₂,x₃), … ("normal" RoPE), while
 * transformers rotates the two halves of each head (`rotate_half`: pairs (xᵢ, x_{i+d/2})). Its converter
 * therefore reorders the output rows of q_proj and k_proj per head so that row 2i+j of the GGUF head is row
 * j·d/2 + i of the Hugging Face head (j ∈ {0, 1}): `w.reshape(heads, 2, d/2, in).swapaxes(1, 2)`.
 * The same reordering applies to those projections' biases and to a LoRA's lora_B rows (s·B·A has the
 * weight's rows), and nowhere else: the architectures with "NeoX" RoPE (Qwen, Gemma) keep the halves.
 */

/**
 * The row order llama.cpp's converter gives a q or k projection of `headCount` heads of `headDimension` rows:
 * GGUF row r holds Hugging Face row `permutation[r]`.
 */
export function queryKeyRowPermutation(headCount: number, headDimension: number): Int32Array {
  const half = headDimension / 2;
  const permutation = new Int32Array(headCount * headDimension);
  for (let head = 0; head < headCount; head++) {
    for (let index = 0; index < half; index++) {
      for (let part = 0; part < 2; part++) {
        permutation[head * headDimension + 2 * index + part] = head * headDimension + part * half + index;
      }
    }
  }
  return permutation;
}

/** The inverse permutation: `inverse[permutation[r]] = r`. */
export function invertPermutation(permutation: Int32Array): Int32Array {
  const inverse = new Int32Array(permutation.length);
  for (let row = 0; row < permutation.length; row++) inverse[permutation[row] as number] = row;
  return inverse;
}

/** A new row-major matrix whose row r is row `permutation[r]` of `values` (`rows × columns`). */
export function permuteRows<T extends Float32Array | Float64Array>(
  values: T,
  columns: number,
  permutation: Int32Array,
): T {
  const result = new (values.constructor as new (length: number) => T)(values.length);
  for (let row = 0; row < permutation.length; row++) {
    const source = (permutation[row] as number) * columns;
    result.set(values.subarray(source, source + columns), row * columns);
  }
  return result;
}
