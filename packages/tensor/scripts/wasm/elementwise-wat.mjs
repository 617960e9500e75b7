// Generates the WebAssembly text of the SIMD elementwise, normalisation and reduction kernels.
// Every function takes byte offsets into linear memory and element counts. Maps run four lanes at a time and
// finish the ragged tail with the same vector code on a splatted scalar (lane 0 is stored), so that a tail
// element gets exactly the arithmetic of its neighbours.

/** Address `base + index * 4` (both i32 locals). */
export const at = (base, index) =>
  `(i32.add (local.get ${base}) (i32.shl (local.get ${index}) (i32.const 2)))`;

/** A v128 constant with the same float32 in all four lanes. */
export const f32x4 = (number) => `(v128.const f32x4 ${number} ${number} ${number} ${number})`;

/** The v128 scratch locals that {@link expInline} needs in the calling function. */
export const expLocals = "(local $expX v128) (local $expN v128) (local $expR v128) (local $expP v128)";

/**
 * Vector exp(x) in float32: clamp to [-104, 89] (beyond both ends the result underflows to 0 or overflows to
 * infinity anyway), n = round(x·log2 e), r = x − n·ln 2 (ln 2 split in a high and a low part, Cody–Waite),
 * exp(r) ≈ 1 + r + r²·P(r) with the degree-5 P of Cephes `expf` (about 1 ulp for |r| ≤ ln 2 / 2), and 2ⁿ
 * applied in two halves so that subnormal and near-overflow results are not lost. NaN propagates.
 */
export function expInline(value) {
  const coefficients = [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
  return `(block (result v128)
      (local.set $expX (f32x4.min (f32x4.max ${value} ${f32x4(-104)}) ${f32x4(89)}))
      (local.set $expN (f32x4.nearest (f32x4.mul (local.get $expX) ${f32x4(Math.LOG2E)})))
      (local.set $expR (f32x4.sub (f32x4.sub (local.get $expX) (f32x4.mul (local.get $expN) ${f32x4(0.693359375)}))
                                  (f32x4.mul (local.get $expN) ${f32x4(-2.1219444e-4)})))
      (local.set $expP ${f32x4(1.98756915e-4)})
      ${coefficients
        .map(
          (coefficient) =>
            `(local.set $expP (f32x4.add (f32x4.mul (local.get $expP) (local.get $expR)) ${f32x4(coefficient)}))`,
        )
        .join("\n      ")}
      (local.set $expP (f32x4.add (f32x4.add (f32x4.mul (local.get $expP) (f32x4.mul (local.get $expR) (local.get $expR)))
                                             (local.get $expR)) ${f32x4(1)}))
      ;; 2^n = 2^(n >> 1) · 2^(n − (n >> 1)), each factor built from its biased exponent
      (local.set $expX (i32x4.trunc_sat_f32x4_s (local.get $expN)))
      (local.set $expN (i32x4.shr_s (local.get $expX) (i32.const 1)))
      (local.set $expX (i32x4.sub (local.get $expX) (local.get $expN)))
      (f32x4.mul
        (f32x4.mul (local.get $expP) (i32x4.shl (i32x4.add (local.get $expN) (v128.const i32x4 127 127 127 127)) (i32.const 23)))
        (i32x4.shl (i32x4.add (local.get $expX) (v128.const i32x4 127 127 127 127)) (i32.const 23))))`;
}

/** The v128 scratch locals that {@link logInline} needs in the calling function. */
export const logLocals =
  "(local $logX v128) (local $logE v128) (local $logM v128) (local $logZ v128) (local $logY v128) (local $logSmall v128)";

/**
 * Vector natural log in float32 (Cephes `logf`): subnormal inputs are scaled by 2²³ first; x = 2ᵉ·m with m in
 * [√½, √2), log(1 + f) for f = m − 1 by f − f²/2 + f³·P(f) (degree-8 P, about 1 ulp), plus e·ln 2 in a high
 * and a low part. Special values as `Math.log`: negative or NaN → NaN, ±0 → −∞, +∞ → +∞.
 */
export function logInline(value) {
  const coefficients = [
    -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1,
    -2.4999993993e-1, 3.3333331174e-1,
  ];
  const i32x4 = (number) => `(v128.const i32x4 ${number} ${number} ${number} ${number})`;
  return `(block (result v128)
      (local.set $logX ${value})
      ;; subnormals (and zero or negatives, fixed at the end): scale by 2^23
      (local.set $logSmall (f32x4.lt (local.get $logX) ${f32x4(1.17549435e-38)}))
      (local.set $logM (v128.bitselect (f32x4.mul (local.get $logX) ${f32x4(8388608)}) (local.get $logX) (local.get $logSmall)))
      ;; exponent e (m in [0.5, 1)) and mantissa m
      (local.set $logE (i32x4.sub (i32x4.shr_u (local.get $logM) (i32.const 23)) ${i32x4(126)}))
      (local.set $logE (i32x4.sub (local.get $logE) (v128.and (local.get $logSmall) ${i32x4(23)})))
      (local.set $logM (v128.or (v128.and (local.get $logM) ${i32x4(0x007fffff)}) ${i32x4(0x3f000000)}))
      ;; m < √½: m = 2m − 1, e − 1; else m = m − 1
      (local.set $logZ (f32x4.lt (local.get $logM) ${f32x4(Math.SQRT1_2)}))
      (local.set $logE (f32x4.convert_i32x4_s (i32x4.add (local.get $logE) (local.get $logZ))))
      (local.set $logM (f32x4.sub (f32x4.add (local.get $logM) (v128.and (local.get $logM) (local.get $logZ))) ${f32x4(1)}))
      (local.set $logZ (f32x4.mul (local.get $logM) (local.get $logM)))
      (local.set $logY ${f32x4(7.0376836292e-2)})
      ${coefficients
        .map(
          (coefficient) =>
            `(local.set $logY (f32x4.add (f32x4.mul (local.get $logY) (local.get $logM)) ${f32x4(coefficient)}))`,
        )
        .join("\n      ")}
      (local.set $logY (f32x4.mul (local.get $logY) (f32x4.mul (local.get $logM) (local.get $logZ))))
      (local.set $logY (f32x4.add (local.get $logY) (f32x4.mul (local.get $logE) ${f32x4(-2.1219444e-4)})))
      (local.set $logY (f32x4.sub (local.get $logY) (f32x4.mul (local.get $logZ) ${f32x4(0.5)})))
      (local.set $logY (f32x4.add (f32x4.add (local.get $logM) (local.get $logY)) (f32x4.mul (local.get $logE) ${f32x4(0.693359375)})))
      ;; special values
      (local.set $logY (v128.bitselect ${f32x4("inf")} (local.get $logY) (f32x4.eq (local.get $logX) ${f32x4("inf")})))
      (local.set $logY (v128.bitselect ${f32x4("-inf")} (local.get $logY) (f32x4.eq (local.get $logX) ${f32x4(0)})))
      (v128.bitselect ${f32x4("nan")} (local.get $logY)
        (v128.or (f32x4.lt (local.get $logX) ${f32x4(0)}) (f32x4.ne (local.get $logX) (local.get $logX)))))`;
}

/** Promotes the low (`low` true) or high two float32 lanes of a vector to float64x2. */
export const promote = (vector, low) =>
  low
    ? `(f64x2.promote_low_f32x4 ${vector})`
    : `(f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${vector} ${vector}))`;

/** Rounds two float64x2 vectors to one float32x4 (lanes 0–1 from `low`, 2–3 from `high`). */
const demotePair = (low, high) =>
  `(i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero ${low}) (f32x4.demote_f64x2_zero ${high}))`;

/**
 * A map over n elements: out[i] = f(in0[i], in1[i], ...). `body` returns a v128 expression over the locals
 * `$v0`, `$v1`, ... that hold the loaded inputs. Parameters: one pointer per input, `extraParams`, out, n.
 */
export function mapFunction(name, inputCount, extraParams, body, extraLocals = "") {
  const inputs = Array.from({ length: inputCount }, (_, index) => index);
  const params = inputs.map((index) => `(param $in${index} i32)`).join(" ");
  const locals = inputs.map((index) => `(local $v${index} v128)`).join(" ");
  const load = (splat) =>
    inputs
      .map(
        (index) =>
          `(local.set $v${index} (${splat ? "v128.load32_splat" : "v128.load"} ${at(`$in${index}`, "$i")}))`,
      )
      .join(" ");
  return `
(func $${name} (export "${name}") ${params} ${extraParams} (param $out i32) (param $n i32)
  (local $i i32) ${locals} ${extraLocals}
  (block $vectorDone (loop $vector
    (br_if $vectorDone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
    ${load(false)}
    (v128.store ${at("$out", "$i")} ${body()})
    (local.set $i (i32.add (local.get $i) (i32.const 4)))
    (br $vector)))
  (block $tailDone (loop $tail
    (br_if $tailDone (i32.ge_s (local.get $i) (local.get $n)))
    ${load(true)}
    (f32.store ${at("$out", "$i")} (f32x4.extract_lane 0 ${body()}))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $tail)))
)`;
}

const binaryInstructions = { add: "f32x4.add", sub: "f32x4.sub", mul: "f32x4.mul", div: "f32x4.div" };

/** out = a ∘ b for same-size a and b, for a scalar b, and for b a row repeated every `columns` elements. */
function binaryFunctions(operation) {
  const instruction = binaryInstructions[operation];
  const same = mapFunction(
    `${operation}Same`,
    2,
    "",
    () => `(${instruction} (local.get $v0) (local.get $v1))`,
  );
  const scalar = mapFunction(
    `${operation}Scalar`,
    1,
    "(param $scalar f32)",
    () => `(${instruction} (local.get $v0) (f32x4.splat (local.get $scalar)))`,
  );
  const row = `
(func $${operation}Row (export "${operation}Row") (param $a i32) (param $b i32) (param $out i32) (param $rows i32) (param $columns i32)
  (local $r i32) (local $offset i32)
  (block $rowsDone (loop $eachRow
    (br_if $rowsDone (i32.ge_s (local.get $r) (local.get $rows)))
    (local.set $offset (i32.shl (i32.mul (local.get $r) (local.get $columns)) (i32.const 2)))
    (call $${operation}Same (i32.add (local.get $a) (local.get $offset)) (local.get $b)
                            (i32.add (local.get $out) (local.get $offset)) (local.get $columns))
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $eachRow)))
)`;
  return same + scalar + row;
}

/** factor·a computed in float64 and rounded once (as the reference, which multiplies by a float64 factor). */
const scaleBody = () =>
  demotePair(
    `(f64x2.mul ${promote("(local.get $v0)", true)} (f64x2.splat (local.get $factor)))`,
    `(f64x2.mul ${promote("(local.get $v0)", false)} (f64x2.splat (local.get $factor)))`,
  );

/** round32(alpha·x) + y, the product in float64 as in the reference. */
const axpyBody = () =>
  `(f32x4.add ${demotePair(
    `(f64x2.mul ${promote("(local.get $v0)", true)} (f64x2.splat (local.get $alpha)))`,
    `(f64x2.mul ${promote("(local.get $v0)", false)} (f64x2.splat (local.get $alpha)))`,
  )} (local.get $v1))`;

/** 1 / (1 + exp(−x)). */
export const sigmoidOf = (value) =>
  `(f32x4.div ${f32x4(1)} (f32x4.add ${f32x4(1)} ${expInline(`(f32x4.neg ${value})`)}))`;

const unaryFunctions = [
  mapFunction("scale", 1, "(param $factor f64)", scaleBody),
  mapFunction("axpy", 2, "(param $alpha f64)", axpyBody),
  mapFunction("neg", 1, "", () => "(f32x4.neg (local.get $v0))"),
  mapFunction("sqrt", 1, "", () => "(f32x4.sqrt (local.get $v0))"),
  mapFunction(
    "clamp",
    1,
    "(param $low f32) (param $high f32)",
    () =>
      "(f32x4.min (f32x4.max (local.get $v0) (f32x4.splat (local.get $low))) (f32x4.splat (local.get $high)))",
  ),
  mapFunction("exp", 1, "", () => expInline("(local.get $v0)"), expLocals),
  mapFunction("sigmoid", 1, "", () => sigmoidOf("(local.get $v0)"), expLocals),
  mapFunction("silu", 1, "", () => `(f32x4.mul (local.get $v0) ${sigmoidOf("(local.get $v0)")})`, expLocals),
  mapFunction("log", 1, "", () => logInline("(local.get $v0)"), logLocals),
  mapFunction("maxSame", 2, "", () => "(f32x4.max (local.get $v0) (local.get $v1))"),
].join("");

/** Horizontal sum of the two float64 lanes. */
export const horizontalSum64 = (vector) =>
  `(f64.add (f64x2.extract_lane 0 ${vector}) (f64x2.extract_lane 1 ${vector}))`;

/**
 * Row-wise kernels on `[rows, columns]`: softmax (max-subtracted, the sum in float32 lanes), RMS norm (mean of
 * squares accumulated in float64, then torch's float32 rounding order), and reductions of
 * `[outer, reduced, inner]` over the middle axis: the float64-accumulated sum and the maximum.
 */
const rowFunctions = `
(func $softmax (export "softmax") (param $in i32) (param $out i32) (param $rows i32) (param $columns i32)
  (local $r i32) (local $i i32) (local $row i32) (local $target i32) (local $maximum v128) (local $sum v128)
  (local $value v128) (local $scalarMaximum f32) (local $inverse v128) ${expLocals}
  (block $rowsDone (loop $eachRow
    (br_if $rowsDone (i32.ge_s (local.get $r) (local.get $rows)))
    (local.set $row (i32.add (local.get $in) (i32.shl (i32.mul (local.get $r) (local.get $columns)) (i32.const 2))))
    (local.set $target (i32.add (local.get $out) (i32.shl (i32.mul (local.get $r) (local.get $columns)) (i32.const 2))))
    ;; maximum of the row (NaN propagates)
    (local.set $maximum ${f32x4("-inf")})
    (local.set $i (i32.const 0))
    (block $maxDone (loop $maxVector
      (br_if $maxDone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $columns)))
      (local.set $maximum (f32x4.max (local.get $maximum) (v128.load ${at("$row", "$i")})))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $maxVector)))
    (block $maxTailDone (loop $maxTail
      (br_if $maxTailDone (i32.ge_s (local.get $i) (local.get $columns)))
      (local.set $maximum (f32x4.max (local.get $maximum) (v128.load32_splat ${at("$row", "$i")})))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $maxTail)))
    (local.set $scalarMaximum (f32.max (f32.max (f32x4.extract_lane 0 (local.get $maximum)) (f32x4.extract_lane 1 (local.get $maximum)))
                                       (f32.max (f32x4.extract_lane 2 (local.get $maximum)) (f32x4.extract_lane 3 (local.get $maximum)))))
    (local.set $maximum (f32x4.splat (local.get $scalarMaximum)))
    ;; exp(x - max), stored, summed
    (local.set $sum (v128.const f32x4 0 0 0 0))
    (local.set $i (i32.const 0))
    (block $expDone (loop $expVector
      (br_if $expDone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $columns)))
      (local.set $value ${expInline(`(f32x4.sub (v128.load ${at("$row", "$i")}) (local.get $maximum))`)})
      (v128.store ${at("$target", "$i")} (local.get $value))
      (local.set $sum (f32x4.add (local.get $sum) (local.get $value)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $expVector)))
    (block $expTailDone (loop $expTail
      (br_if $expTailDone (i32.ge_s (local.get $i) (local.get $columns)))
      (local.set $value ${expInline(`(f32x4.sub (v128.load32_splat ${at("$row", "$i")}) (local.get $maximum))`)})
      (f32.store ${at("$target", "$i")} (f32x4.extract_lane 0 (local.get $value)))
      (local.set $sum (f32x4.add (local.get $sum) (f32x4.replace_lane 1 (f32x4.replace_lane 2 (f32x4.replace_lane 3
        (local.get $value) (f32.const 0)) (f32.const 0)) (f32.const 0))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $expTail)))
    (local.set $inverse (f32x4.splat (f32.div (f32.const 1)
      (f32.add (f32.add (f32x4.extract_lane 0 (local.get $sum)) (f32x4.extract_lane 1 (local.get $sum)))
               (f32.add (f32x4.extract_lane 2 (local.get $sum)) (f32x4.extract_lane 3 (local.get $sum)))))))
    (call $mulScalar (local.get $target) (f32x4.extract_lane 0 (local.get $inverse)) (local.get $target) (local.get $columns))
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $eachRow)))
)

(func $sumOfSquares (param $row i32) (param $n i32) (result f64)
  (local $i i32) (local $value v128) (local $low v128) (local $high v128) (local $scalar f64)
  (block $vectorDone (loop $vector
    (br_if $vectorDone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
    (local.set $value (v128.load ${at("$row", "$i")}))
    (local.set $low (f64x2.add (local.get $low) (f64x2.mul ${promote("(local.get $value)", true)} ${promote("(local.get $value)", true)})))
    (local.set $high (f64x2.add (local.get $high) (f64x2.mul ${promote("(local.get $value)", false)} ${promote("(local.get $value)", false)})))
    (local.set $i (i32.add (local.get $i) (i32.const 4)))
    (br $vector)))
  (block $tailDone (loop $tail
    (br_if $tailDone (i32.ge_s (local.get $i) (local.get $n)))
    (local.set $scalar (f64.promote_f32 (f32.load ${at("$row", "$i")})))
    (local.set $low (f64x2.replace_lane 0 (local.get $low)
      (f64.add (f64x2.extract_lane 0 (local.get $low)) (f64.mul (local.get $scalar) (local.get $scalar)))))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $tail)))
  ${horizontalSum64("(f64x2.add (local.get $low) (local.get $high))")}
)

(func $rmsNorm (export "rmsNorm") (param $in i32) (param $weight i32) (param $out i32) (param $rows i32) (param $columns i32) (param $epsilon f64)
  (local $r i32) (local $i i32) (local $row i32) (local $target i32) (local $inverseRoot v128) (local $variance f32)
  (block $rowsDone (loop $eachRow
    (br_if $rowsDone (i32.ge_s (local.get $r) (local.get $rows)))
    (local.set $row (i32.add (local.get $in) (i32.shl (i32.mul (local.get $r) (local.get $columns)) (i32.const 2))))
    (local.set $target (i32.add (local.get $out) (i32.shl (i32.mul (local.get $r) (local.get $columns)) (i32.const 2))))
    ;; variance = f32(Σx² / columns); inverseRoot = f32(1 / sqrt(f32(variance + ε)))
    (local.set $variance (f32.demote_f64 (f64.div (call $sumOfSquares (local.get $row) (local.get $columns))
                                                  (f64.convert_i32_s (local.get $columns)))))
    (local.set $inverseRoot (f32x4.splat (f32.demote_f64 (f64.div (f64.const 1) (f64.sqrt (f64.promote_f32
      (f32.demote_f64 (f64.add (f64.promote_f32 (local.get $variance)) (local.get $epsilon)))))))))
    (local.set $i (i32.const 0))
    (block $vectorDone (loop $vector
      (br_if $vectorDone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $columns)))
      (v128.store ${at("$target", "$i")} (f32x4.mul (v128.load ${at("$weight", "$i")})
        (f32x4.mul (v128.load ${at("$row", "$i")}) (local.get $inverseRoot))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $vector)))
    (block $tailDone (loop $tail
      (br_if $tailDone (i32.ge_s (local.get $i) (local.get $columns)))
      (f32.store ${at("$target", "$i")} (f32.mul (f32.load ${at("$weight", "$i")})
        (f32.mul (f32.load ${at("$row", "$i")}) (f32x4.extract_lane 0 (local.get $inverseRoot)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $tail)))
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $eachRow)))
)

(func $frobeniusNorm (export "frobeniusNorm") (param $in i32) (param $n i32) (result f32)
  (f32.demote_f64 (f64.sqrt (call $sumOfSquares (local.get $in) (local.get $n))))
)

;; Maximum over the middle axis of [outer, reduced, inner] (NaN propagates; an empty axis gives -inf).
(func $maxMiddle (export "maxMiddle") (param $in i32) (param $out i32) (param $outer i32) (param $reduced i32) (param $inner i32)
  (local $o i32) (local $step i32) (local $i i32) (local $source i32) (local $target i32) (local $best v128)
  (block $outerDone (loop $eachOuter
    (br_if $outerDone (i32.ge_s (local.get $o) (local.get $outer)))
    (local.set $target (i32.add (local.get $out) (i32.shl (i32.mul (local.get $o) (local.get $inner)) (i32.const 2))))
    (if (i32.eq (local.get $inner) (i32.const 1))
      (then
        (local.set $source (i32.add (local.get $in) (i32.shl (i32.mul (local.get $o) (local.get $reduced)) (i32.const 2))))
        (local.set $best ${f32x4("-inf")})
        (local.set $i (i32.const 0))
        (block $vectorDone (loop $vector
          (br_if $vectorDone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $reduced)))
          (local.set $best (f32x4.max (local.get $best) (v128.load ${at("$source", "$i")})))
          (local.set $i (i32.add (local.get $i) (i32.const 4)))
          (br $vector)))
        (block $tailDone (loop $tail
          (br_if $tailDone (i32.ge_s (local.get $i) (local.get $reduced)))
          (local.set $best (f32x4.max (local.get $best) (v128.load32_splat ${at("$source", "$i")})))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $tail)))
        (f32.store (local.get $target)
          (f32.max (f32.max (f32x4.extract_lane 0 (local.get $best)) (f32x4.extract_lane 1 (local.get $best)))
                   (f32.max (f32x4.extract_lane 2 (local.get $best)) (f32x4.extract_lane 3 (local.get $best))))))
      (else
        (call $fill (local.get $target) (f32.const -inf) (local.get $inner))
        (local.set $step (i32.const 0))
        (block $stepsDone (loop $eachStep
          (br_if $stepsDone (i32.ge_s (local.get $step) (local.get $reduced)))
          (local.set $source (i32.add (local.get $in) (i32.shl
            (i32.mul (i32.add (i32.mul (local.get $o) (local.get $reduced)) (local.get $step)) (local.get $inner)) (i32.const 2))))
          (call $maxSame (local.get $target) (local.get $source) (local.get $target) (local.get $inner))
          (local.set $step (i32.add (local.get $step) (i32.const 1)))
          (br $eachStep)))))
    (local.set $o (i32.add (local.get $o) (i32.const 1)))
    (br $eachOuter)))
)

;; out[0..n) = value
(func $fill (param $out i32) (param $value f32) (param $n i32)
  (local $i i32)
  (block $vectorDone (loop $vector
    (br_if $vectorDone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
    (v128.store ${at("$out", "$i")} (f32x4.splat (local.get $value)))
    (local.set $i (i32.add (local.get $i) (i32.const 4)))
    (br $vector)))
  (block $tailDone (loop $tail
    (br_if $tailDone (i32.ge_s (local.get $i) (local.get $n)))
    (f32.store ${at("$out", "$i")} (local.get $value))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $tail)))
)

;; Sum over the middle axis of [outer, reduced, inner]; float64 accumulators at $scratch (inner·8 bytes).
(func $sumMiddle (export "sumMiddle") (param $in i32) (param $out i32) (param $outer i32) (param $reduced i32) (param $inner i32) (param $scratch i32)
  (local $o i32) (local $step i32) (local $i i32) (local $source i32) (local $cell i32) (local $value v128)
  (local $low v128) (local $high v128)
  (block $outerDone (loop $eachOuter
    (br_if $outerDone (i32.ge_s (local.get $o) (local.get $outer)))
    (if (i32.eq (local.get $inner) (i32.const 1))
      (then
        ;; contiguous reduction: four float64 lanes pairs
        (local.set $source (i32.add (local.get $in) (i32.shl (i32.mul (local.get $o) (local.get $reduced)) (i32.const 2))))
        (local.set $low (v128.const i64x2 0 0))
        (local.set $high (v128.const i64x2 0 0))
        (local.set $i (i32.const 0))
        (block $vectorDone (loop $vector
          (br_if $vectorDone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $reduced)))
          (local.set $value (v128.load ${at("$source", "$i")}))
          (local.set $low (f64x2.add (local.get $low) ${promote("(local.get $value)", true)}))
          (local.set $high (f64x2.add (local.get $high) ${promote("(local.get $value)", false)}))
          (local.set $i (i32.add (local.get $i) (i32.const 4)))
          (br $vector)))
        (block $tailDone (loop $tail
          (br_if $tailDone (i32.ge_s (local.get $i) (local.get $reduced)))
          (local.set $low (f64x2.replace_lane 0 (local.get $low) (f64.add (f64x2.extract_lane 0 (local.get $low))
            (f64.promote_f32 (f32.load ${at("$source", "$i")})))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $tail)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $o) (i32.const 2)))
          (f32.demote_f64 ${horizontalSum64("(f64x2.add (local.get $low) (local.get $high))")})))
      (else
        (memory.fill (local.get $scratch) (i32.const 0) (i32.shl (local.get $inner) (i32.const 3)))
        (local.set $step (i32.const 0))
        (block $stepsDone (loop $eachStep
          (br_if $stepsDone (i32.ge_s (local.get $step) (local.get $reduced)))
          (local.set $source (i32.add (local.get $in) (i32.shl
            (i32.mul (i32.add (i32.mul (local.get $o) (local.get $reduced)) (local.get $step)) (local.get $inner)) (i32.const 2))))
          (local.set $i (i32.const 0))
          (block $vectorDone (loop $vector
            (br_if $vectorDone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $inner)))
            (local.set $value (v128.load ${at("$source", "$i")}))
            (local.set $cell (i32.add (local.get $scratch) (i32.shl (local.get $i) (i32.const 3))))
            (v128.store (local.get $cell) (f64x2.add (v128.load (local.get $cell)) ${promote("(local.get $value)", true)}))
            (v128.store offset=16 (local.get $cell) (f64x2.add (v128.load offset=16 (local.get $cell)) ${promote("(local.get $value)", false)}))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $vector)))
          (block $tailDone (loop $tail
            (br_if $tailDone (i32.ge_s (local.get $i) (local.get $inner)))
            (local.set $cell (i32.add (local.get $scratch) (i32.shl (local.get $i) (i32.const 3))))
            (f64.store (local.get $cell) (f64.add (f64.load (local.get $cell)) (f64.promote_f32 (f32.load ${at("$source", "$i")}))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $tail)))
          (local.set $step (i32.add (local.get $step) (i32.const 1)))
          (br $eachStep)))
        (local.set $i (i32.const 0))
        (block $storeDone (loop $store
          (br_if $storeDone (i32.ge_s (local.get $i) (local.get $inner)))
          (f32.store (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $o) (local.get $inner)) (local.get $i)) (i32.const 2)))
            (f32.demote_f64 (f64.load (i32.add (local.get $scratch) (i32.shl (local.get $i) (i32.const 3))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $store)))))
    (local.set $o (i32.add (local.get $o) (i32.const 1)))
    (br $eachOuter)))
)`;

/** The WebAssembly text of every elementwise, row-wise and reduction function. */
export function elementwiseWat() {
  return [
    ...Object.keys(binaryInstructions).map((operation) => binaryFunctions(operation)),
    unaryFunctions,
    rowFunctions,
  ].join("\n");
}
