import type { LoraAdapter } from "@peftjs/adapters";
import {
  exportAdapterToGguf,
  exportModelToGguf,
  type GgufVocabulary,
  type ModelExportOptions,
} from "../../src/index.js";
import { writeGgufFile } from "../../src/node.js";
import type { ModelFolder } from "./fixtures.js";

/** Exports a model folder to `path` (F32 unless `dtype` says otherwise); returns the export's warnings. */
export async function writeModelFile(
  path: string,
  model: ModelFolder,
  vocabulary: GgufVocabulary,
  options: Partial<Omit<ModelExportOptions, "config" | "checkpoint" | "vocabulary">> = {},
): Promise<readonly string[]> {
  const result = exportModelToGguf({
    config: model.config,
    checkpoint: model.checkpoint,
    vocabulary,
    dtype: "F32",
    ...options,
  });
  await writeGgufFile(path, result.contents);
  return result.warnings;
}

/** Exports an adapter for a model folder to `path`; returns the alpha written and the folded modules. */
export async function writeAdapterFile(
  path: string,
  adapter: LoraAdapter,
  model: ModelFolder,
): Promise<{ alpha: number; folded: ReadonlyMap<string, number> }> {
  const result = exportAdapterToGguf(adapter, {
    config: model.config,
    baseShape: (name) => model.checkpoint.info(name)?.shape,
  });
  await writeGgufFile(path, result.contents);
  return { alpha: result.alpha, folded: result.folded };
}
