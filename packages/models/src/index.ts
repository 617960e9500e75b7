/**
 * `@peftjs/models`: causal language models by `model_type` (Llama, Mistral) built from `@peftjs/nn` modules,
 * behind one {@link CausalLM} interface that generation, training, the adapters and the command line use;
 * AdamW and the causal-LM loss; tokenizers. Loading from disk is in `@peftjs/models/node`.
 * @packageDocumentation
 */
export type { Architecture } from "./architectures/architecture.js";
export {
  Gemma3Attention,
  Gemma3DecoderLayer,
  Gemma3ForCausalLM,
  type Gemma3LayerContext,
  Gemma3MLP,
  Gemma3TextModel,
  gemma3Text,
} from "./architectures/gemma3.js";
export {
  type Gemma3LayerType,
  type Gemma3TextConfig,
  parseGemma3TextConfig,
} from "./architectures/gemma3-config.js";
export {
  type AttentionBiases,
  type LayerContext,
  LlamaAttention,
  type LlamaConfig,
  LlamaDecoderLayer,
  LlamaForCausalLM,
  LlamaMLP,
  LlamaModel,
  llama,
  parseLlamaConfig,
} from "./architectures/llama.js";
export { type MistralConfig, MistralForCausalLM, mistral } from "./architectures/mistral.js";
export {
  assertFullAttention,
  parseQwen2Config,
  type Qwen2Config,
  Qwen2ForCausalLM,
  qwen2,
} from "./architectures/qwen2.js";
export {
  parseQwen3Config,
  Qwen3Attention,
  type Qwen3Config,
  Qwen3ForCausalLM,
  qwen3,
} from "./architectures/qwen3.js";
export {
  architectureFor,
  type CreateModelOptions,
  createModel,
  listArchitectures,
  parseModelConfig,
  registerArchitecture,
} from "./architectures/registry.js";
export { CausalLM, type DecoderInput, type ForwardOptions, type TokenBatch } from "./causal-lm.js";
export {
  booleanField,
  type CausalLMConfig,
  type ConfigJson,
  defaultRopeTheta,
  isJsonObject,
  parseCausalLMConfig,
  positiveInteger,
  positiveNumber,
} from "./config/parse.js";
export {
  ModelConfigError,
  ModelInputError,
  ModelSourceError,
  ModelWeightsError,
  TokenIdError,
  TokenizerFormatError,
  TrainingDivergedError,
  UnsupportedModelOptionError,
  UnsupportedModelTypeError,
  UnsupportedRopeTypeError,
} from "./errors.js";
export type { GenerateOptions } from "./generation/generate.js";
export { generate } from "./generation/generate.js";
export { type GenerateBatchOptions, generateBatch } from "./generation/generate-batch.js";
export { KeyValueCache } from "./generation/kv-cache.js";
export type { SamplingOptions } from "./generation/sampling.js";
export { argmaxIndex, sampleToken } from "./generation/sampling.js";
export type { HubErrorContext } from "./hub/hub-errors.js";
export {
  HubAuthenticationError,
  HubGatedRepositoryError,
  HubOfflineError,
  HubRepositoryNotFoundError,
  HubRequestError,
  HubRevisionNotFoundError,
  ModelFileNotFoundError,
} from "./hub/hub-errors.js";
export type { HubModelId } from "./hub/hub-id.js";
export {
  COMMIT_HASH_PATTERN,
  DEFAULT_REVISION,
  formatHubModelId,
  HubModelIdError,
  isHubRepository,
  parseHubModelId,
} from "./hub/hub-id.js";
export type { DownloadProgress, HubOptions } from "./hub/hub-options.js";
export { hubFileUrl } from "./hub/hub-options.js";
export type { HubModelSourceOptions } from "./hub/hub-source.js";
export { BROWSER_HUB_CACHE_NAME, openHubModelSource } from "./hub/hub-source.js";
export { loadModelFromSource } from "./hub/load-model-from-source.js";
export type { ModelFileContent, ModelSource } from "./hub/model-source.js";
export {
  filesModelSource,
  readOptionalSourceJson,
  readSourceJson,
  readSourceText,
} from "./hub/model-source.js";
export type { ModelLocation, OpenModelSourceOptions } from "./hub/open-model-source.js";
export { openModelSource } from "./hub/open-model-source.js";
export type { PeftAdapterFiles } from "./hub/peft-adapter-files.js";
export {
  ADAPTER_CONFIG_NAME,
  ADAPTER_PICKLE_WEIGHTS_NAME,
  ADAPTER_WEIGHTS_NAME,
  readPeftAdapterFiles,
  UnsupportedAdapterFormatError,
} from "./hub/peft-adapter-files.js";
export type { SourceCheckpointOptions } from "./hub/source-checkpoint.js";
export { openSourceCheckpoint } from "./hub/source-checkpoint.js";
export type { ResponseCache, UrlModelSourceOptions } from "./hub/url-source.js";
export { urlModelSource } from "./hub/url-source.js";
export {
  type AttentionMask,
  type AttentionShape,
  attentionMask,
  causalMask,
  groupedQueryAttention,
  splitHeads,
} from "./layers/attention.js";
export {
  parseRopeParameters,
  type RopeParameters,
  type RopeType,
  supportedRopeTypes,
} from "./layers/rope-parameters.js";
export {
  type RopeFrequencies,
  RotaryEmbedding,
  type RotaryTables,
  ropeFrequencies,
} from "./layers/rope-scaling.js";
export { CheckpointWeights, type ModelWeights } from "./loading/checkpoint-weights.js";
export type { LoadModelFromUrlOptions } from "./loading/load-from-url.js";
export { loadModelFromUrl } from "./loading/load-from-url.js";
export type {
  ChatMessage,
  ChatTemplateOptions,
} from "./tokenizer/chat-template.js";
export { renderChatTemplate, selectChatTemplate } from "./tokenizer/chat-template.js";
export { eosTokenIdsOf } from "./tokenizer/generation-eos.js";
export type { HuggingFaceTokenizerFiles } from "./tokenizer/hugging-face-tokenizer.js";
export { HuggingFaceTokenizer } from "./tokenizer/hugging-face-tokenizer.js";
export type { Llama2cDecodeOptions, Llama2cEncodeOptions } from "./tokenizer/llama2c-tokenizer.js";
export { Llama2cTokenizer } from "./tokenizer/llama2c-tokenizer.js";
export {
  LLAMA2C_TOKENIZER_FILES,
  loadHuggingFaceTokenizer,
  loadTokenizer,
  loadTokenizerFromSource,
} from "./tokenizer/load-tokenizer.js";
export type {
  SpecialTokenIds,
  Tokenizer,
  TokenizerDecodeOptions,
  TokenizerEncodeOptions,
} from "./tokenizer/tokenizer.js";
export type { ChatTemplateSet, SpecialTokenStrings, TokenizerConfig } from "./tokenizer/tokenizer-config.js";
export { parseTokenizerConfig } from "./tokenizer/tokenizer-config.js";
export {
  ChatTemplateNotFoundError,
  ChatTemplateOptionsError,
  ChatTemplateRenderError,
  ChatTemplateSyntaxError,
  TokenizerNotFoundError,
} from "./tokenizer/tokenizer-errors.js";
export type { AdamWOptions } from "./training/adamw.js";
export { AdamW } from "./training/adamw.js";
export type { CausalLanguageModelLossOptions } from "./training/causal-lm-loss.js";
export { causalLanguageModelLoss, IGNORE_INDEX } from "./training/causal-lm-loss.js";
export type { ClippedGradients } from "./training/clip-gradient-norm.js";
export { clipGradientNorm, totalGradientNorm } from "./training/clip-gradient-norm.js";
export type {
  TrainableParameters,
  TrainingBatch,
  TrainingResult,
  TrainingStepReport,
  TrainOptions,
} from "./training/train.js";
export { train } from "./training/train.js";
