/**
 * `@peftjs/state`: frozen base weights, cheap snapshots, content fingerprints, a mutation journal and
 * adapter metadata, so that no change to a base weight can happen unseen.
 * @module
 */

export type {
  AdapterKind,
  AdapterProducer,
  AdapterRecord,
  DeriveAdapterRecordOptions,
  InitMethod,
} from "./adapter-record.js";
export {
  ADAPTER_METADATA_KEYS,
  ADAPTER_RECORD_VERSION,
  adapterRecordFromMetadata,
  adapterRecordToMetadata,
  deriveAdapterRecord,
  initMethodMutatesBase,
  validateAdapterRecord,
} from "./adapter-record.js";
export type {
  CompatibilityFailure,
  CompatibilityOk,
  CompatibilityOptions,
  CompatibilityResult,
} from "./compatibility.js";
export { assertCompatible, checkCompatibility } from "./compatibility.js";
export {
  AdapterBaseMismatchError,
  AdapterCompatibilityError,
  AdapterNeedsMutatedBaseError,
  AdapterNeedsOriginalBaseError,
  BaseMutationForbiddenError,
  FrozenTensorWriteError,
  HasherFinishedError,
  InvalidAdapterRecordError,
  InvalidTensorError,
  MutationDescriptionError,
  MutationShapeError,
  SnapshotFormatError,
  SnapshotMismatchError,
  UnknownTensorError,
} from "./errors.js";
export type {
  BaseMutatedEvent,
  MutationPolicy,
  RestoredEvent,
  WarningSink,
  WeightStoreEventMap,
} from "./events.js";
export { BaseMutationWarning, defaultWarningSink } from "./events.js";
export type { Fingerprint } from "./fingerprint.js";
export {
  fingerprintModel,
  fingerprintTensor,
  isFingerprint,
  tensorFingerprintHeader,
} from "./fingerprint.js";
export { FrozenTensor } from "./frozen-tensor.js";
export type { JournalEntry, JournalEntryKind } from "./journal.js";
export { Murmur3Hasher128, murmur3x86128 } from "./murmur3.js";
export { Snapshot } from "./snapshot.js";
export type { DecodeSnapshotOptions } from "./snapshot-codec.js";
export {
  decodeSnapshot,
  encodeSnapshot,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_METADATA_KEYS,
} from "./snapshot-codec.js";
export type {
  MutationDescription,
  RestoreDescription,
  TensorSource,
  WeightStoreOptions,
} from "./weight-store.js";
export { WeightStore } from "./weight-store.js";
