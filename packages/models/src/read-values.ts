import type { Tensor } from "@peftjs/tensor";

/**
 * Reads a tensor back to the host for a generation or training loop. Loops await it, so that a backend whose
 * device-to-host reads are asynchronous (WebGPU) can serve them. The one place the loops read.
 */
export async function readValues(tensor: Tensor): Promise<Float32Array> {
  return tensor.toFloat32ArrayAsync();
}
