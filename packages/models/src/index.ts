export type { LlamaConfig } from "./config.js";
export { parseLlamaConfig } from "./config.js";
export {
  ModelConfigError,
  ModelInputError,
  ModelWeightsError,
  ModuleNotFoundError,
  ModuleShapeError,
  TokenIdError,
  TokenizerFormatError,
  UnsupportedRopeTypeError,
} from "./errors.js";
export type { DecodeAllOptions, EncodeOptions } from "./tokenizer/llama2c-tokenizer.js";
export {
  BOS_TOKEN_ID,
  EOS_TOKEN_ID,
  Llama2cTokenizer,
  UNKNOWN_TOKEN_ID,
} from "./tokenizer/llama2c-tokenizer.js";
