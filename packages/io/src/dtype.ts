/**
 * The element types of the safetensors format, in the order the official library declares them (its `Dtype`
 * enum, safetensors 0.8). That order is the "alignment" order the writer sorts by (descending), so it matters.
 */
export const DTYPES = [
  "BOOL",
  "F4",
  "F6_E2M3",
  "F6_E3M2",
  "U8",
  "I8",
  "F8_E5M2",
  "F8_E4M3",
  "F8_E8M0",
  "F8_E4M3FNUZ",
  "F8_E5M2FNUZ",
  "I16",
  "U16",
  "F16",
  "BF16",
  "I32",
  "U32",
  "F32",
  "C64",
  "F64",
  "I64",
  "U64",
] as const;

/** A safetensors element type, spelled exactly as in the file header (`"F32"`, `"BF16"`, `"F8_E4M3"`, ...). */
export type Dtype = (typeof DTYPES)[number];

const bitSizes: Record<Dtype, number> = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
};

const dtypeRanks = new Map<string, number>(DTYPES.map((dtype, index) => [dtype, index]));

/** True when `value` is one of the {@link DTYPES} (case-sensitive, as the official parser). */
export function isDtype(value: unknown): value is Dtype {
  return typeof value === "string" && dtypeRanks.has(value);
}

/** Bits per element: 4 for `F4`, 6 for the `F6_*` types, otherwise 8 × {@link dtypeByteSize}. */
export function dtypeBitSize(dtype: Dtype): number {
  return bitSizes[dtype];
}

/**
 * Bytes per element. For the sub-byte types (`F4`, `F6_E2M3`, `F6_E3M2`) this is a fraction (0.5, 0.75):
 * their tensors are packed and their byte size is `elements × bits / 8`, which must be whole.
 */
export function dtypeByteSize(dtype: Dtype): number {
  return bitSizes[dtype] / 8;
}

/** The position of `dtype` in {@link DTYPES}; the writer orders tensors by this rank, largest first. */
export function dtypeRank(dtype: Dtype): number {
  return dtypeRanks.get(dtype) as number;
}
