/**
 * `@peftjs/io`: safetensors for Node and browsers, with no dependencies. Read from bytes, a Blob or an
 * http(s) URL (lazily, header first), write byte-identical to the official library, convert the narrow float
 * formats exactly. File paths, streaming atomic writes and checkpoint folders are in `@peftjs/io/node`.
 */

export {
  type ByteSource,
  blobSource,
  bytesSource,
  type HttpSourceOptions,
  httpSource,
} from "./byte-source.js";
export {
  elementCount,
  type Float32ConvertibleDtype,
  firstNonFiniteIndex,
  fromFloat32,
  fromFloat32Finite,
  type TypedArrayFor,
  tensorByteLength,
  toFloat32,
  toTypedArray,
} from "./convert.js";
export { DTYPES, type Dtype, dtypeBitSize, dtypeByteSize, dtypeRank, isDtype } from "./dtype.js";
export type { PeftjsErrorOptions } from "./errors.js";
export { isPeftjsError, PeftjsError } from "./errors.js";
export {
  bfloat16BitsToFloat32,
  bitsToFloat32,
  float4E2M1BitsToFloat32,
  float8E4M3BitsToFloat32,
  float8E4M3FnuzBitsToFloat32,
  float8E5M2BitsToFloat32,
  float8E5M2FnuzBitsToFloat32,
  float8E8M0BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToBits,
  float32ToFloat4E2M1Bits,
  float32ToFloat8E4M3Bits,
  float32ToFloat8E4M3FnuzBits,
  float32ToFloat8E5M2Bits,
  float32ToFloat8E5M2FnuzBits,
  float32ToFloat8E8M0Bits,
  float32ToFloat16Bits,
} from "./float-bits.js";
export { MAX_HEADER_SIZE, parseHeader, readHeaderLength, type SafetensorsHeader } from "./header.js";
export {
  compareCodePoints,
  type Layout,
  type LayoutEntry,
  planLayout,
  type TensorDescription,
} from "./layout.js";
export { type PythonJsonValue, pythonJson, pythonJsonString } from "./python-json.js";
export type { RawTensor, TensorInfo, TensorMap } from "./raw-tensor.js";
export {
  type OpenSafetensorsOptions,
  openSafetensors,
  openSafetensorsSource,
  type SafetensorsReader,
  type SafetensorsSourceInput,
} from "./reader.js";
export {
  CheckpointError,
  FileSystemError,
  JsonFileError,
  SafetensorsConversionError,
  SafetensorsDuplicateKeyError,
  SafetensorsError,
  SafetensorsHeaderEncodingError,
  SafetensorsHeaderJsonError,
  SafetensorsHeaderLengthError,
  SafetensorsHeaderSchemaError,
  SafetensorsHeaderTooLargeError,
  SafetensorsHeaderTooSmallError,
  SafetensorsIncompleteDataError,
  SafetensorsInvalidMetadataError,
  SafetensorsInvalidOffsetError,
  SafetensorsInvalidTensorError,
  SafetensorsMisalignedError,
  SafetensorsShapeOverflowError,
  SafetensorsSourceError,
  SafetensorsTensorNotFoundError,
  SafetensorsTensorSizeError,
  SafetensorsUnknownDtypeError,
} from "./safetensors-errors.js";
export { type DeserializedSafetensors, deserialize, serialize } from "./serialize.js";
export {
  type CheckpointIndex,
  type CheckpointReader,
  type CheckpointTensorInfo,
  formatCheckpointIndex,
  openShardedCheckpoint,
  type PlannedShard,
  parseCheckpointIndex,
  parseShardSize,
  planShards,
  SAFETENSORS_INDEX_NAME,
  SAFETENSORS_WEIGHTS_NAME,
  type ShardPlan,
  shardFileName,
  singleFileCheckpoint,
} from "./sharding.js";
