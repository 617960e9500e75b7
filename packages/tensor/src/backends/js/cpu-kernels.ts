import type { CpuKernelTable } from "./cpu-tensor.js";
import {
  axpyKernel,
  binaryKernel,
  castKernel,
  clampKernel,
  isFiniteKernel,
  negKernel,
  scaleKernel,
  siluValue,
  swiGluGradientKernel,
  swiGluKernel,
  unaryKernel,
} from "./kernels/elementwise.js";
import { concatKernel, gatherKernel, sliceKernel, transposeKernel } from "./kernels/layout.js";
import { crossEntropyGradientKernel, crossEntropyRowsKernel } from "./kernels/loss.js";
import { matmulKernel } from "./kernels/matmul.js";
import {
  maskedSoftmaxKernel,
  rmsNormGradientKernel,
  rmsNormKernel,
  rotaryEmbeddingKernel,
  softmaxGradientKernel,
  softmaxKernel,
} from "./kernels/normalization.js";
import { argmaxKernel, frobeniusNormKernel, maxKernel, sumKernel } from "./kernels/reduce.js";

/**
 * The reference kernels on CPU typed arrays: one for every kernel name. The `js` backend runs them directly;
 * the engine runs them on read-back data when another backend lacks a kernel.
 */
export const cpuKernels: CpuKernelTable = {
  matmul: matmulKernel,
  add: binaryKernel("add"),
  sub: binaryKernel("sub"),
  mul: binaryKernel("mul"),
  div: binaryKernel("div"),
  scale: scaleKernel,
  axpy: axpyKernel,
  neg: negKernel,
  sqrt: unaryKernel(Math.sqrt),
  exp: unaryKernel(Math.exp),
  log: unaryKernel(Math.log),
  silu: unaryKernel(siluValue),
  sigmoid: unaryKernel((value) => 1 / (1 + Math.exp(-value))),
  clamp: clampKernel,
  sum: sumKernel,
  max: maxKernel,
  argmax: argmaxKernel,
  softmax: softmaxKernel,
  maskedSoftmax: maskedSoftmaxKernel,
  softmaxGradient: softmaxGradientKernel,
  swiGlu: swiGluKernel,
  swiGluGradient: swiGluGradientKernel,
  rmsNormGradient: rmsNormGradientKernel,
  rmsNorm: rmsNormKernel,
  rotaryEmbedding: rotaryEmbeddingKernel,
  gather: gatherKernel,
  transpose: transposeKernel,
  slice: sliceKernel,
  concat: concatKernel,
  crossEntropyRows: crossEntropyRowsKernel,
  crossEntropyGradient: crossEntropyGradientKernel,
  frobeniusNorm: frobeniusNormKernel,
  isFinite: isFiniteKernel,
  cast: castKernel,
};
