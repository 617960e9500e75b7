/**
 * `@peftjs/gguf`: models and LoRA adapters to and from llama.cpp's GGUF. Export a Hugging Face checkpoint (plain or
 * with adapters merged) in llama.cpp's layout for llama, mistral, qwen2, qwen3 and gemma3_text; export a PEFT LoRA
 * as a GGUF LoRA with every PEFT scale exact; import a GGUF LoRA back. Files on disk are in `@peftjs/gguf/node`.
 * @packageDocumentation
 */
export {
  type AdapterExport,
  type AdapterExportOptions,
  exportAdapterToGguf,
  PEFTJS_ADAPTER_CONFIG_KEY,
  PEFTJS_ADAPTER_METADATA_KEY,
} from "./adapter/export-adapter.js";
export {
  type AdapterImport,
  type AdapterImportOptions,
  importAdapterFromGguf,
} from "./adapter/import-adapter.js";
export { checkAdapterForOriginalBase, checkRunnableAdapterConfig } from "./adapter/runnable.js";
export { llamaCppLoraScale, type ModuleScale, planLoraScales, type ScalePlan } from "./adapter/scale-plan.js";
export type {
  ArchitectureDescription,
  GeneratedTensor,
  GgufArchitecture,
} from "./architectures/architecture.js";
export { gemma3QueryScaleCorrection } from "./architectures/gemma3.js";
export { linearModuleNames } from "./architectures/linear-modules.js";
export { llama3RopeFactors } from "./architectures/llama3-rope.js";
export { type DecoderConfig, type RopeParameters, readDecoderConfig } from "./architectures/model-config.js";
export {
  invertPermutation,
  permuteRows,
  queryKeyRowPermutation,
} from "./architectures/query-key-permutation.js";
export { ggufArchitectureFor, ggufModelTypes } from "./architectures/registry.js";
export {
  GgufAdapterMismatchError,
  GgufArchitectureError,
  GgufFormatError,
  GgufTokenizerError,
  GgufUnsupportedAdapterError,
} from "./errors.js";
export {
  type GgufMetadata,
  GgufMetadataBuilder,
  type GgufMetadataEntry,
  metadataNumber,
  metadataString,
  metadataStringArray,
} from "./format/metadata.js";
export { type GgufFile, type GgufTensorInfo, readGguf } from "./format/reader.js";
export { type GgufTensorType, ggmlTypeIds } from "./format/tensor-types.js";
export {
  GGUF_DEFAULT_ALIGNMENT,
  type GgufContents,
  type GgufLayout,
  type GgufTensorSource,
  ggufChunks,
  ggufToBlob,
  ggufToBytes,
  planGgufLayout,
} from "./format/writer.js";
export {
  exportModelToGguf,
  type MergedAdapter,
  type ModelExport,
  type ModelExportOptions,
  type TensorSource,
  tensorMapSource,
} from "./model/export-model.js";
export { huggingFaceVocabulary } from "./tokenizer/hugging-face-vocabulary.js";
export { llama2cVocabulary } from "./tokenizer/llama2c-vocabulary.js";
export {
  type GgufSpecialTokens,
  GgufTokenType,
  type GgufVocabulary,
  vocabularyMetadata,
} from "./tokenizer/vocabulary.js";
