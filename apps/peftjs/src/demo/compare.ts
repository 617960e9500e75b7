import type { LlamaForCausalLM } from "@peftjs/models";

/** The model's logits for a batch, as a flat float32 array (the tensor is released). */
export function logitsOf(model: LlamaForCausalLM, inputIds: readonly (readonly number[])[]): Float32Array {
  const logits = model.forward(inputIds);
  try {
    return logits.toFloat32Array();
  } finally {
    logits.dispose();
  }
}

/** max |a − b| over two arrays of the same length. */
export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} and ${b.length}`);
  let max = 0;
  for (let index = 0; index < a.length; index++) max = Math.max(max, Math.abs(a[index]! - b[index]!));
  return max;
}
