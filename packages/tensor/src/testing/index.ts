/**
 * `@peftjs/tensor/testing`: the shared conformance table and its runner, for backend authors and for the
 * browser harness. Every backend replays the same cases against the `js` reference.
 *
 * @packageDocumentation
 */
export type { CaseInputs, CaseOutput, ConformanceCase, Tolerance } from "./conformance-cases.js";
export { compareOutputs, conformanceCases, executeCase } from "./conformance-cases.js";
export type { ConformanceResult } from "./run-conformance.js";
export { runConformanceCase, runConformanceSuite } from "./run-conformance.js";
