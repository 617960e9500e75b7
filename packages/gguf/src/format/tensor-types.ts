import { GGMLQuantizationType } from "@huggingface/gguf";

/** The tensor element types peftjs reads and writes: llama.cpp's unquantized floats. */
export type GgufTensorType = "F32" | "F16" | "BF16";

/** The GGML type id of each {@link GgufTensorType}, as stored in a tensor info. */
export const ggmlTypeIds: Readonly<Record<GgufTensorType, number>> = {
  F32: GGMLQuantizationType.F32,
  F16: GGMLQuantizationType.F16,
  BF16: GGMLQuantizationType.BF16,
};

/** Bytes per element. */
export const ggufElementSize: Readonly<Record<GgufTensorType, number>> = { F32: 4, F16: 2, BF16: 2 };

/** The {@link GgufTensorType} of a GGML type id, or undefined for the quantized and integer types. */
export function tensorTypeOfGgmlId(id: number): GgufTensorType | undefined {
  for (const [name, value] of Object.entries(ggmlTypeIds)) if (value === id) return name as GgufTensorType;
  return undefined;
}

/** The name of a GGML type id (`Q4_K`, `F16`, …), for messages. */
export function ggmlTypeName(id: number): string {
  return GGMLQuantizationType[id] ?? `type ${id}`;
}

/**
 * llama.cpp's `general.file_type` for a model whose matrices are stored as `type`
 * (`LlamaFileType`: ALL_F32 0, MOSTLY_F16 1, MOSTLY_BF16 32).
 */
export const llamaFileTypes: Readonly<Record<GgufTensorType, number>> = { F32: 0, F16: 1, BF16: 32 };
