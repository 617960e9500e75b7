/**
 * `@peftjs/adapters`: LoRA, PiSSA and OLoRA adapters with Hugging Face PEFT parity — config, adapter files,
 * inits, conversion, weighted combination — and no silent base mutation. Adapter folders on disk are in
 * `@peftjs/adapters/node`.
 * @packageDocumentation
 */

export {
  adapterDeltas,
  adapterScaling,
  type HostTensor,
  type LoraAdapter,
  type LoraFactors,
  moduleDelta,
  type TrainableTokenRows,
  validateAdapter,
} from "./adapter.js";
export * from "./combine/index.js";
export {
  createLoraConfig,
  type InitLoraWeights,
  type LoraBias,
  type LoraConfig,
  type LoraConfigInput,
  loraConfigToJson,
  PEFT_COMPATIBLE_VERSION,
  parseLoraConfig,
  pissaIterations,
  serializeLoraConfig,
  validateLoraConfig,
  withLoraConfig,
} from "./config/lora-config.js";
export {
  findPatternKey,
  loraScaling,
  type ModuleLoraSettings,
  moduleLoraSettings,
} from "./config/scaling.js";
export {
  ALL_LINEAR,
  DEFAULT_TARGET_MODULES,
  isExcludedModule,
  isTargetModule,
  type SelectTargetModulesOptions,
  selectTargetModules,
} from "./config/target-modules.js";
export {
  compareDeltas,
  convertToLora,
  type DeltaErrorReport,
  type RecompressionResult,
  recompressAdapter,
} from "./convert.js";
export {
  AdapterCombinationError,
  AdapterConversionError,
  AdapterFileError,
  AdapterInitError,
  AdapterNonFiniteError,
  AdapterShapeError,
  AdapterTooLargeError,
  LoraConfigError,
  UnsupportedLoraOptionError,
} from "./errors.js";
export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  type AdapterStorageDtype,
  adapterFromPeftTensors,
  adapterToPeftTensors,
  decodePeftAdapter,
  type EncodedPeftAdapter,
  type EncodePeftAdapterOptions,
  encodePeftAdapter,
  isModuleToSave,
  tokenIndicesFor,
} from "./files/peft-format.js";
export * from "./init-api.js";
export { checkInitialAdapter, MIN_INITIAL_COSINE } from "./initial-adapter-check.js";
export {
  type InitializeAdapterOptions,
  type InitializedAdapter,
  type InitTarget,
  initializeAdapter,
  MAX_ADAPTER_ELEMENTS,
} from "./initialize.js";
export { defaultInit } from "./inits/default/index.js";
export { gaussianInit } from "./inits/gaussian/index.js";
export { oloraInit } from "./inits/olora/index.js";
export { pissaInit } from "./inits/pissa/index.js";
export { randomInit } from "./inits/random/index.js";
export { type EmbeddingLayerAdapter, LoraEmbedding } from "./layer/lora-embedding.js";
export { type LayerAdapter, LoraLinear, type OverlayCorrection } from "./layer/lora-linear.js";
export {
  type AdapterParameters,
  MergeableAdapterLayer,
  NonFiniteMergeError,
} from "./layer/mergeable-adapter-layer.js";
export {
  BASE_ADAPTER_NAME,
  MixedBatchError,
  type MixedBatchProblem,
  mixedBatchForward,
  type RowGroup,
  rowGroups,
} from "./layer/mixed-batch.js";
export { type CopyableModule, isCopyableModule, ModulesToSaveLayer } from "./layer/modules-to-save.js";
export {
  adapterParameterName,
  copiedParameter,
  copiedParameterName,
  LORA_A,
  LORA_B,
  LORA_EMBEDDING_A,
  LORA_EMBEDDING_B,
  PEFT_KEY_PREFIX,
  parsePeftBiasKey,
  parsePeftKey,
  peftBiasKey,
  peftKey,
  TRAINABLE_TOKENS_DELTA,
} from "./layer/parameter-keys.js";
export { TiedOutputHead } from "./layer/tied-output-head.js";
export { TrainableTokensLayer } from "./layer/trainable-tokens.js";
export { matrixToTensor, takeMatrix, tensorToMatrix } from "./math/host-tensor.js";
export {
  OLORA_LEADING_COLUMNS_THRESHOLD,
  oloraLeadingColumnsShare,
  PISSA_SUBSPACE_SHARE_THRESHOLD,
  pissaSubspaceShare,
} from "./model/guards.js";
export {
  assertHotswapConfigsCompatible,
  HOTSWAP_CONFIG_FIELDS,
  HotswapError,
} from "./model/hotswap.js";
export {
  type AdaptableModel,
  type AdapterCheck,
  type AdapterLoadResult,
  type HotswapOptions,
  type HotswapResult,
  type LoraForwardOptions,
  LoraModel,
  UnknownAdapterError,
} from "./model/lora-model.js";
export { assertMixedBatchAllowed, type MixedBatchState } from "./model/mixed-batch-check.js";
export {
  AdapterLoadError,
  type AdapterPlacementOptions,
  adapterRecordOf,
  INIT_SEED_METADATA_KEY,
  isInitAdapterForConversion,
  isUnconvertedAdapter,
  type PissaMode,
} from "./model/placement.js";
export { TrainableAdapters, type TrainableLayer } from "./model/trainable.js";
export { doraVariant, LORA_MAGNITUDE_VECTOR } from "./variants/dora/index.js";
export { plainVariant } from "./variants/plain/index.js";
export {
  knownParameterNames,
  type LoraVariant,
  listLoraVariants,
  loraVariantFor,
  registerLoraVariant,
  unregisterLoraVariant,
  type VariantContext,
  variantConfigFields,
} from "./variants/registry.js";
