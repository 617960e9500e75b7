import { PeftjsError } from "@peftjs/io";
import { ModelFileNotFoundError } from "./hub-errors.js";
import { type ModelSource, readSourceJson } from "./model-source.js";

/** PEFT's adapter file names. */
export const ADAPTER_CONFIG_NAME = "adapter_config.json";
export const ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors";
/** The pickle format of older PEFT versions, which peftjs does not read. */
export const ADAPTER_PICKLE_WEIGHTS_NAME = "adapter_model.bin";

/** The adapter has only `adapter_model.bin` (a PyTorch pickle), which peftjs does not read. */
export class UnsupportedAdapterFormatError extends PeftjsError {
  /** The source, as its description names it. */
  readonly source: string;

  constructor(source: string) {
    super(
      "unsupported_adapter_format",
      `${source} has ${ADAPTER_PICKLE_WEIGHTS_NAME} but no ${ADAPTER_WEIGHTS_NAME}: peftjs reads safetensors only (a pickle can run code when loaded). Convert it once in Python: PeftModel.from_pretrained(base, path).save_pretrained(out, safe_serialization=True)`,
    );
    this.source = source;
  }
}

/** The two files of a PEFT adapter: the parsed config and the safetensors bytes. */
export interface PeftAdapterFiles {
  /** `adapter_config.json`, parsed (to be read by `@peftjs/adapters`' `parseLoraConfig`). */
  readonly config: unknown;
  /** `adapter_model.safetensors`. */
  readonly weights: Uint8Array;
}

/**
 * Reads a PEFT adapter (`adapter_config.json` + `adapter_model.safetensors`) from any source: a folder, a
 * URL, a Hub repository.
 *
 * @throws ModelFileNotFoundError when adapter_config.json or the weights are missing;
 *   UnsupportedAdapterFormatError when the weights exist only as adapter_model.bin.
 */
export async function readPeftAdapterFiles(source: ModelSource): Promise<PeftAdapterFiles> {
  if (!(await source.has(ADAPTER_CONFIG_NAME))) {
    throw new ModelFileNotFoundError(source.description, ADAPTER_CONFIG_NAME, "it is not a PEFT adapter");
  }
  if (!(await source.has(ADAPTER_WEIGHTS_NAME))) {
    if (await source.has(ADAPTER_PICKLE_WEIGHTS_NAME))
      throw new UnsupportedAdapterFormatError(source.description);
    throw new ModelFileNotFoundError(source.description, ADAPTER_WEIGHTS_NAME);
  }
  return {
    config: await readSourceJson(source, ADAPTER_CONFIG_NAME),
    weights: await source.readBytes(ADAPTER_WEIGHTS_NAME),
  };
}
