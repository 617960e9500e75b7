/**
 * The public surface a variant folder (`src/variants/<name>/`) is written against: the registry, its types, and
 * the matrix and decomposition helpers. Re-exported from the package index, so a third-party variant can be
 * written the same way.
 */

export { AdapterInitError } from "./errors.js";
export {
  type QrFactors,
  randomizedSvd,
  reducedQr,
  type SvdFactors,
  truncatedSvd,
} from "./math/decompositions.js";
export { roundThroughDtype } from "./math/dtype-rounding.js";
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
export {
  type AdapterVariant,
  type BaseWeight,
  type BaseWeightDtype,
  listAdapterVariants,
  registerAdapterVariant,
  unregisterAdapterVariant,
  type VariantInitContext,
  type VariantInitResult,
  variantForInit,
} from "./variants/registry.js";
