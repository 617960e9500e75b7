import type { GgufArchitecture } from "./architecture.js";
import { llamaFamily } from "./llama.js";

/**
 * `model_type: "mistral"`: written as llama.cpp's converter writes `MistralForCausalLM`, as the `llama`
 * architecture. llama.cpp's llama graph has no sliding-window attention, so a `sliding_window` is dropped
 * (with a warning): outputs are exact while the context is at most the window (4,096 for Mistral 7B v0.1;
 * v0.2 and later set none).
 */
export const mistralArchitecture: GgufArchitecture = llamaFamily("mistral", (config) => {
  const window = config.json.sliding_window;
  if (typeof window !== "number") return [];
  return [
    `sliding_window ${window} is dropped: llama.cpp runs Mistral as "llama", with full causal attention, so positions beyond ${window} tokens attend further back than in transformers`,
  ];
});
