/**
 * `@peftjs/io/node`: file-system access for Node (file paths, streaming atomic writes, checkpoint folders,
 * JSON side files). Kept out of the main entry so browser bundles never import `node:fs`.
 */
export type { ByteSource } from "./byte-source.js";
export { SequentialWriter, temporaryPathFor, writeAtomically, writeFileAtomic } from "./node/atomic-file.js";
export {
  type CheckpointContents,
  type CheckpointReadOptions,
  type CheckpointWriteOptions,
  openCheckpoint,
  readCheckpoint,
  writeCheckpoint,
} from "./node/checkpoint.js";
export { fileSource } from "./node/file-source.js";
export { readJsonFile, writeJsonFileAtomic } from "./node/json-file.js";
export {
  type LazyTensor,
  openSafetensorsFile,
  readSafetensorsFile,
  type TensorDataProducer,
  type WritableTensor,
  type WritableTensorMap,
  writeSafetensorsFile,
} from "./node/safetensors-file.js";
export { removeTemporaryPaths, temporaryPaths, trackTemporaryPath } from "./node/temporary-paths.js";
