/**
 * The public surface an init folder (`src/inits/<name>/`) is written against: the registry, its types, and the
 * host matrix and decomposition helpers. Re-exported from the package index, so a third-party init method can
 * be written the same way.
 */

export { AdapterInitError } from "./errors.js";
export {
  type BaseWeight,
  type BaseWeightDtype,
  type InitContext,
  type InitMethod,
  type InitResult,
  initMethodFor,
  initMovesBaseWeight,
  listInitMethods,
  registerInitMethod,
  unregisterInitMethod,
} from "./inits/registry.js";
export {
  type QrFactors,
  randomizedSvd,
  reducedQr,
  type SvdFactors,
  truncatedSvd,
} from "./math/decompositions.js";
export { roundThroughDtype } from "./math/dtype-rounding.js";
export { subtractScaledProduct } from "./math/host-tensor.js";
export {
  addScaled,
  concatColumns,
  concatRows,
  frobeniusNorm,
  isAllFinite,
  type Matrix,
  matrix,
  maxAbsDifference,
  multiply,
  relativeError,
  scale,
  scaleColumns,
  scaleRows,
  sliceColumns,
  sliceRows,
  transpose,
  zeroMatrix,
} from "./math/matrix.js";
