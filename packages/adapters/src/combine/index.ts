export {
  COMBINATION_TYPES,
  type CombinationTraits,
  type CombinationType,
  type CombineOptions,
  combinationTraits,
  isCombinationType,
  MAJORITY_SIGN_METHODS,
  type MajoritySignMethod,
  validateCombineOptions,
} from "./combination-types.js";
export {
  type CombinationNote,
  type CombinationResult,
  combineAdapters,
  type RandomPruningStatistics,
} from "./combine-adapters.js";
export { CombinationOptionError } from "./errors.js";
export { COMBINATION_METADATA_KEY, type CombinationRecord, readCombinationRecord } from "./metadata.js";
