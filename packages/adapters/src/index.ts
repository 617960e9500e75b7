/**
 * `@peftjs/adapters`: LoRA, PiSSA and OLoRA adapters with Hugging Face PEFT parity — config, adapter files,
 * inits, conversion, weighted combination — and no silent base mutation. Adapter folders on disk are in
 * `@peftjs/adapters/node`.
 * @packageDocumentation
 */
import "./variants/index.js";

export {
  adapterDeltas,
  adapterScaling,
  type LoraAdapter,
  type LoraFactors,
  moduleDelta,
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
  PEFT_KEY_PREFIX,
  peftKey,
} from "./files/peft-format.js";
export { checkInitialAdapter, MIN_INITIAL_COSINE } from "./initial-adapter-check.js";
export { type InitializeAdapterOptions, type InitializedAdapter, initializeAdapter } from "./initialize.js";
export {
  applyWeight,
  type LinearLayer,
  type LinearLayerHost,
  matrixToTensor,
  PlainLinear,
  tensorToMatrix,
} from "./model/linear-layer.js";
export { type LayerAdapter, LoraLinear, NonFiniteMergeError } from "./model/lora-linear.js";
export {
  AdapterLoadError,
  type AdapterPlacementOptions,
  INIT_SEED_METADATA_KEY,
  LoraModel,
  type LoraModelOptions,
  type PissaMode,
  UnknownAdapterError,
} from "./model/lora-model.js";
export { oloraLeadingColumnsShare, pissaSubspaceShare } from "./model/subspace-guard.js";
export * from "./variant-api.js";
export { loraVariant } from "./variants/lora/index.js";
export { oloraVariant } from "./variants/olora/index.js";
export { pissaVariant } from "./variants/pissa/index.js";
