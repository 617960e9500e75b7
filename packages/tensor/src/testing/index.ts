/**
 * `@peftjs/tensor/testing`: the shared tables and their runners, for backend authors and for the browser
 * harness. Every backend replays the same conformance cases against the `js` reference, and every backend that
 * trains replays the same gradient checks (float32 autograd against finite differences of float64 references).
 *
 * @packageDocumentation
 */
export type { CaseInputs, CaseOutput, ConformanceCase, Tolerance } from "./conformance-cases.js";
export { compareOutputs, conformanceCases, executeCase, executeCaseAsync } from "./conformance-cases.js";
export type { Array64 } from "./float64-reference.js";
export type {
  BinaryGradientOp,
  GradientCase,
  GradientFill,
  GradientInput,
  GradientTolerance,
  JustifiedTolerance,
} from "./gradient-check-cases.js";
export {
  binaryGradientCase,
  binaryGradientOps,
  defaultGradientTolerance,
  gradientCheckCases,
  gradientToleranceFor,
} from "./gradient-check-cases.js";
export type { ConformanceResult } from "./run-conformance.js";
export { runConformanceCase, runConformanceSuite } from "./run-conformance.js";
export type { GradientCheckResult } from "./run-gradient-check.js";
export {
  gradientCheckSeed,
  runGradientCheck,
  runGradientCheckAsync,
  runGradientCheckSuite,
} from "./run-gradient-check.js";
