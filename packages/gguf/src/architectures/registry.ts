import { GgufArchitectureError } from "../errors.js";
import type { GgufArchitecture } from "./architecture.js";
import { gemma3Architecture } from "./gemma3.js";
import { llamaArchitecture } from "./llama.js";
import { mistralArchitecture } from "./mistral.js";
import { qwen2Architecture, qwen3Architecture } from "./qwen.js";

const architectures = new Map<string, GgufArchitecture>(
  [llamaArchitecture, mistralArchitecture, qwen2Architecture, qwen3Architecture, gemma3Architecture].map(
    (architecture) => [architecture.modelType, architecture],
  ),
);

/** The Hugging Face `model_type`s that can be written as GGUF. */
export function ggufModelTypes(): string[] {
  return [...architectures.keys()];
}

/**
 * The GGUF layout of a Hugging Face `model_type`.
 * @throws GgufArchitectureError for a model type without a table entry, listing the supported ones
 */
export function ggufArchitectureFor(modelType: string): GgufArchitecture {
  const architecture = architectures.get(modelType);
  if (architecture === undefined) {
    throw new GgufArchitectureError(
      `model_type "${modelType}" has no GGUF layout here; supported: ${ggufModelTypes().join(", ")}`,
    );
  }
  return architecture;
}
