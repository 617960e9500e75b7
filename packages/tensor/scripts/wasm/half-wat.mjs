// WebAssembly text for the 16-bit floating-point storage types (bfloat16, IEEE float16): the element types the
// GEMM packs from (widening to float32 while it copies panels) and the conversion kernels of `cast`.
//
// Widening is exact. bfloat16 is the top half of a float32, so widening is a 16-bit shift. float16 uses the
// magic-multiply conversion: the 15 magnitude bits moved to float32's exponent/mantissa position, read as a
// float32 and multiplied by 2^112 (the difference of the exponent biases), which is exact for normal and
// subnormal halves alike; infinities and NaNs (exponent 0x1f) get float32's all-ones exponent instead; the
// sign is copied. Narrowing rounds to nearest, ties to even, as torch (c10::Half, c10::BFloat16): bfloat16
// adds 0x7fff plus the lowest kept bit and truncates, NaN becomes 0x7fc0; float16 follows F. Giesen's
// float_to_half_fast3_rtne (subnormals by adding a magic float, normals by rebiasing with a rounding carry),
// overflow to ±infinity, NaN to 0x7e00 with the sign kept.

const i32x4 = (number) => `(v128.const i32x4 ${number} ${number} ${number} ${number})`;

/** The v128 locals that {@link widenFloat16Vector} needs in the calling function. */
export const halfLocals =
  "(local $halfIn v128) (local $halfBits v128) (local $halfScalar i32) (local $halfScalarBits i32)";

/** float32x4 from four float16 values, zero-extended to i32x4 lanes in `vector`. */
export function widenFloat16Vector(vector) {
  return `(block (result v128)
      (local.set $halfIn ${vector})
      (local.set $halfBits (i32x4.shl (v128.and (local.get $halfIn) ${i32x4(0x7fff)}) (i32.const 13)))
      (v128.or
        (v128.bitselect
          (v128.or (local.get $halfBits) ${i32x4(0x7f800000)})
          (f32x4.mul (local.get $halfBits) (v128.const f32x4 0x1p112 0x1p112 0x1p112 0x1p112))
          (i32x4.eq (v128.and (local.get $halfBits) ${i32x4(0x0f800000)}) ${i32x4(0x0f800000)}))
        (i32x4.shl (v128.and (local.get $halfIn) ${i32x4(0x8000)}) (i32.const 16))))`;
}

/** float32 from one float16 value held in the low 16 bits of the i32 expression `value`. */
export function widenFloat16Scalar(value) {
  return `(block (result f32)
      (local.set $halfScalar ${value})
      (local.set $halfScalarBits (i32.shl (i32.and (local.get $halfScalar) (i32.const 0x7fff)) (i32.const 13)))
      (f32.reinterpret_i32 (i32.or
        (select
          (i32.or (local.get $halfScalarBits) (i32.const 0x7f800000))
          (i32.reinterpret_f32 (f32.mul (f32.reinterpret_i32 (local.get $halfScalarBits)) (f32.const 0x1p112)))
          (i32.eq (i32.and (local.get $halfScalarBits) (i32.const 0x0f800000)) (i32.const 0x0f800000)))
        (i32.shl (i32.and (local.get $halfScalar) (i32.const 0x8000)) (i32.const 16)))))`;
}

/**
 * The storage element types the GEMM reads, by the code the `gemm` export takes (0, 1, 2). Each says how many
 * bytes an element takes (`shift` = log2) and how to load four consecutive elements as a float32x4 or one as
 * an f32 (`address` is an i32 expression of a byte address).
 */
export const elementTypes = [
  {
    name: "f32",
    code: 0,
    shift: 2,
    load4: (address, offset = 0) => `(v128.load offset=${offset} ${address})`,
    load1: (address) => `(f32.load ${address})`,
  },
  {
    name: "bf16",
    code: 1,
    shift: 1,
    load4: (address, offset = 0) =>
      `(i32x4.shl (v128.load16x4_u offset=${offset} ${address}) (i32.const 16))`,
    load1: (address) => `(f32.reinterpret_i32 (i32.shl (i32.load16_u ${address}) (i32.const 16)))`,
  },
  {
    name: "f16",
    code: 2,
    shift: 1,
    load4: (address, offset = 0) => widenFloat16Vector(`(v128.load16x4_u offset=${offset} ${address})`),
    load1: (address) => widenFloat16Scalar(`(i32.load16_u ${address})`),
  },
];

/** float32x4 → bfloat16 bits in i32x4 lanes (round to nearest even; NaN → 0x7fc0). */
function narrowBfloat16Vector(vector) {
  return `(block (result v128)
      (local.set $narrowIn ${vector})
      (v128.bitselect
        ${i32x4(0x7fc0)}
        (i32x4.shr_u
          (i32x4.add (i32x4.add (local.get $narrowIn) ${i32x4(0x7fff)})
                     (v128.and (i32x4.shr_u (local.get $narrowIn) (i32.const 16)) ${i32x4(1)}))
          (i32.const 16))
        (f32x4.ne (local.get $narrowIn) (local.get $narrowIn))))`;
}

/** float32x4 → float16 bits in i32x4 lanes (round to nearest even; overflow → ±infinity; NaN → 0x7e00 | sign). */
function narrowFloat16Vector(vector) {
  // Magnitudes: ≥ 2^16 (0x47800000) overflow (or are infinite/NaN); < 2^-14 (0x38800000) are subnormal halves.
  return `(block (result v128)
      (local.set $narrowIn ${vector})
      (local.set $narrowSign (v128.and (local.get $narrowIn) ${i32x4(0x80000000)}))
      (local.set $narrowAbs (v128.xor (local.get $narrowIn) (local.get $narrowSign)))
      ;; subnormal halves: adding 0.5 (2^-1, exponent 126) aligns the half's ulp 2^-24 with float32's ulp at 0.5
      ;; (2^-24) and rounds to nearest even in hardware; the low bits are then the half's code
      (local.set $narrowSub (i32x4.sub
        (f32x4.add (local.get $narrowAbs) (v128.const f32x4 0.5 0.5 0.5 0.5))
        ${i32x4(0x3f000000)}))
      ;; normal halves: rebias the exponent (−112 << 23), add 0xfff plus the lowest kept bit, shift by 13
      (local.set $narrowNormal (i32x4.shr_u
        (i32x4.add
          (i32x4.add (local.get $narrowAbs) ${i32x4(-(112 << 23) + 0xfff)})
          (v128.and (i32x4.shr_u (local.get $narrowAbs) (i32.const 13)) ${i32x4(1)}))
        (i32.const 13)))
      (v128.or
        (i32x4.shr_u (local.get $narrowSign) (i32.const 16))
        (v128.bitselect
          (v128.bitselect ${i32x4(0x7e00)} ${i32x4(0x7c00)} (i32x4.gt_u (local.get $narrowAbs) ${i32x4(0x7f800000)}))
          (v128.bitselect (local.get $narrowSub) (local.get $narrowNormal)
            (i32x4.lt_u (local.get $narrowAbs) ${i32x4(0x38800000)}))
          (i32x4.ge_u (local.get $narrowAbs) ${i32x4(0x47800000)}))))`;
}

const narrowLocals =
  "(local $narrowIn v128) (local $narrowSign v128) (local $narrowAbs v128) (local $narrowSub v128) (local $narrowNormal v128)";

/**
 * A conversion over n elements: `load` reads four source elements at byte address `$source` as a v128, `store`
 * writes the converted v128 at `$target`; the ragged tail goes element by element through the same vector code
 * (a splatted scalar, lane 0 stored).
 */
function conversion(name, { sourceBytes, targetBytes, load, loadOne, convert, store, storeOne, locals }) {
  return `
(func $${name} (export "${name}") (param $in i32) (param $out i32) (param $n i32)
  (local $i i32) (local $source i32) (local $target i32) ${locals}
  (block $vectorDone (loop $vector
    (br_if $vectorDone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
    (local.set $source (i32.add (local.get $in) (i32.mul (local.get $i) (i32.const ${sourceBytes}))))
    (local.set $target (i32.add (local.get $out) (i32.mul (local.get $i) (i32.const ${targetBytes}))))
    ${store(convert(load("(local.get $source)")))}
    (local.set $i (i32.add (local.get $i) (i32.const 4)))
    (br $vector)))
  (block $tailDone (loop $tail
    (br_if $tailDone (i32.ge_s (local.get $i) (local.get $n)))
    (local.set $source (i32.add (local.get $in) (i32.mul (local.get $i) (i32.const ${sourceBytes}))))
    (local.set $target (i32.add (local.get $out) (i32.mul (local.get $i) (i32.const ${targetBytes}))))
    ${storeOne(convert(loadOne("(local.get $source)")))}
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $tail)))
)`;
}

const storeFloats = (value) => `(v128.store (local.get $target) ${value})`;
const storeFloat = (value) => `(f32.store (local.get $target) (f32x4.extract_lane 0 ${value}))`;
// The four i32 lanes hold 16-bit codes: narrow them to the low 8 bytes and store those.
const storeHalves = (value) =>
  `(v128.store64_lane 0 (local.get $target) (i16x8.narrow_i32x4_u ${value} ${value}))`;
const storeHalf = (value) => `(i32.store16 (local.get $target) (i32x4.extract_lane 0 ${value}))`;

/** The conversion kernels of `cast` between float32 and the 16-bit types: `(in, out, n)`, byte offsets. */
export function halfConversionWat() {
  const [, bf16, f16] = elementTypes;
  return [
    conversion("widenBfloat16", {
      sourceBytes: 2,
      targetBytes: 4,
      load: (address) => bf16.load4(address),
      loadOne: (address) => `(f32x4.splat ${bf16.load1(address)})`,
      convert: (value) => value,
      store: storeFloats,
      storeOne: storeFloat,
      locals: "",
    }),
    conversion("widenFloat16", {
      sourceBytes: 2,
      targetBytes: 4,
      load: (address) => f16.load4(address),
      loadOne: (address) => `(f32x4.splat ${f16.load1(address)})`,
      convert: (value) => value,
      store: storeFloats,
      storeOne: storeFloat,
      locals: halfLocals,
    }),
    conversion("narrowBfloat16", {
      sourceBytes: 4,
      targetBytes: 2,
      load: (address) => `(v128.load ${address})`,
      loadOne: (address) => `(v128.load32_splat ${address})`,
      convert: narrowBfloat16Vector,
      store: storeHalves,
      storeOne: storeHalf,
      locals: narrowLocals,
    }),
    conversion("narrowFloat16", {
      sourceBytes: 4,
      targetBytes: 2,
      load: (address) => `(v128.load ${address})`,
      loadOne: (address) => `(v128.load32_splat ${address})`,
      convert: narrowFloat16Vector,
      store: storeHalves,
      storeOne: storeHalf,
      locals: narrowLocals,
    }),
  ].join("\n");
}
