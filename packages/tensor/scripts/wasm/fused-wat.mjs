// Generates the WebAssembly text of the fused kernels of a Llama layer and its training step: the attention
// softmax (scale, additive mask and causal mask in one pass per row), the softmax, SwiGLU and RMS-norm
// gradients, SwiGLU itself, rotary embedding, the cross-entropy loss and its gradient over wide vocabularies
// (no [rows, classes] intermediate), and the layout copies (strided copy, row copies, row gather) that would
// otherwise run in JavaScript. Row kernels take a first row and a row count so that a plan can split rows
// across threads (jobs of `runJob`).
import {
  at,
  expInline,
  expLocals,
  f32x4,
  horizontalSum64,
  logInline,
  logLocals,
  mapFunction,
  promote,
  sigmoidOf,
} from "./elementwise-wat.mjs";

/** Horizontal sum of a float32x4 expression. */
const horizontalSum32 = (vector) => `(block (result f32)
      (local.set $lanes ${vector})
      (f32.add (f32.add (f32x4.extract_lane 0 (local.get $lanes)) (f32x4.extract_lane 1 (local.get $lanes)))
               (f32.add (f32x4.extract_lane 2 (local.get $lanes)) (f32x4.extract_lane 3 (local.get $lanes)))))`;

/** Horizontal maximum of a float32x4 expression (NaN propagates). */
const horizontalMax32 = (vector) => `(block (result f32)
      (local.set $lanes ${vector})
      (f32.max (f32.max (f32x4.extract_lane 0 (local.get $lanes)) (f32x4.extract_lane 1 (local.get $lanes)))
               (f32.max (f32x4.extract_lane 2 (local.get $lanes)) (f32x4.extract_lane 3 (local.get $lanes)))))`;

/**
 * A loop over the columns [0, $count) of a row, four at a time, then one at a time: `body(load, store, index)`
 * gets `load(pointer)` (a v128 of 4, or a splat of 1) and `store(pointer, value)`; `label` keeps loops apart.
 */
function columns(label, count, body) {
  const vectorLoad = (pointer) => `(v128.load ${at(pointer, "$i")})`;
  const vectorStore = (pointer, value) => `(v128.store ${at(pointer, "$i")} ${value})`;
  const scalarLoad = (pointer) => `(v128.load32_splat ${at(pointer, "$i")})`;
  const scalarStore = (pointer, value) => `(f32.store ${at(pointer, "$i")} (f32x4.extract_lane 0 ${value}))`;
  return `(local.set $i (i32.const 0))
    (block $${label}VectorsDone (loop $${label}Vectors
      (br_if $${label}VectorsDone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get ${count})))
      ${body(vectorLoad, vectorStore, true)}
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $${label}Vectors)))
    (block $${label}TailDone (loop $${label}Tail
      (br_if $${label}TailDone (i32.ge_s (local.get $i) (local.get ${count})))
      ${body(scalarLoad, scalarStore, false)}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $${label}Tail)))`;
}

/** Lane mask of the loaded lanes: all four in the vector loop, lane 0 alone in the scalar tail. */
const laneMask = (vector) => (vector ? "(v128.const i32x4 -1 -1 -1 -1)" : "(v128.const i32x4 -1 0 0 0)");

/** Pointer to row `row` (an i32 local) of a `$columns`-wide float32 matrix at `base`. */
const rowPointer = (base, row) =>
  `(i32.add (local.get ${base}) (i32.shl (i32.mul (local.get ${row}) (local.get $columns)) (i32.const 2)))`;

/**
 * softmax(scale·x + mask) per row with the causal mask (see the kernel contract). Row r's values go to `out`
 * first (scaled, masked; excluded columns are never touched there and end up 0), then exp(v − max), then the
 * normalisation. A row with no visible column is NaN (as the reference, which takes the softmax of −∞ only).
 */
const maskedSoftmax = `
(func $maskedSoftmax (export "maskedSoftmax") (param $in i32) (param $out i32) (param $first i32) (param $count i32)
  (param $columns i32) (param $scale f32) (param $queries i32) (param $mask i32) (param $maskRows i32)
  (local $r i32) (local $row i32) (local $end i32) (local $i i32) (local $source i32) (local $target i32)
  (local $maskRow i32) (local $visible i32) (local $maximum v128) (local $sum v128) (local $value v128)
  (local $lanes v128) (local $largest f32) ${expLocals}
  (local.set $r (local.get $first))
  (local.set $end (i32.add (local.get $first) (local.get $count)))
  (block $rowsDone (loop $eachRow
    (br_if $rowsDone (i32.ge_s (local.get $r) (local.get $end)))
    (local.set $source ${rowPointer("$in", "$r")})
    (local.set $target ${rowPointer("$out", "$r")})
    (local.set $visible (local.get $columns))
    (if (i32.gt_s (local.get $queries) (i32.const 0)) (then
      ;; keys j ≤ i + columns − queries are visible (i = r mod queries)
      (local.set $visible (i32.add (i32.rem_s (local.get $r) (local.get $queries))
        (i32.add (i32.sub (local.get $columns) (local.get $queries)) (i32.const 1))))
      (if (i32.gt_s (local.get $visible) (local.get $columns)) (then (local.set $visible (local.get $columns))))))
    (memory.fill (local.get $target) (i32.const 0) (i32.shl (local.get $columns) (i32.const 2)))
    (if (i32.le_s (local.get $visible) (i32.const 0))
      (then
        (local.set $i (i32.const 0))
        (block $nanDone (loop $nan
          (br_if $nanDone (i32.ge_s (local.get $i) (local.get $columns)))
          (f32.store ${at("$target", "$i")} (f32.const nan))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $nan))))
      (else
        (local.set $maskRow (i32.const 0))
        (if (local.get $mask) (then
          (local.set $maskRow (i32.add (local.get $mask) (i32.shl
            (i32.mul (i32.rem_s (local.get $r) (local.get $maskRows)) (local.get $columns)) (i32.const 2))))))
        ;; v = f32(f32(scale·x) + mask) and the row maximum
        (local.set $maximum ${f32x4("-inf")})
        ${columns(
          "scores",
          "$visible",
          (load, store, vector) => `
        (local.set $value (f32x4.mul ${load("$source")} (f32x4.splat (local.get $scale))))
        (if (local.get $mask) (then (local.set $value (f32x4.add (local.get $value) ${load("$maskRow")}))))
        ${store("$target", "(local.get $value)")}
        (local.set $maximum (f32x4.max (local.get $maximum)
          (v128.bitselect (local.get $value) ${f32x4("-inf")} ${laneMask(vector)})))`,
        )}
        (local.set $largest ${horizontalMax32("(local.get $maximum)")})
        ;; exp(v − max): −∞ (a masked element) gives exactly 0
        (local.set $sum (v128.const f32x4 0 0 0 0))
        ${columns(
          "exponentials",
          "$visible",
          (load, store, vector) => `
        (local.set $value ${load("$target")})
        (local.set $value (v128.and
          ${expInline("(f32x4.sub (local.get $value) (f32x4.splat (local.get $largest)))")}
          (f32x4.ne (local.get $value) ${f32x4("-inf")})))
        ${store("$target", "(local.get $value)")}
        (local.set $sum (f32x4.add (local.get $sum) (v128.and (local.get $value) ${laneMask(vector)})))`,
        )}
        (local.set $value (f32x4.splat (f32.div (f32.const 1) ${horizontalSum32("(local.get $sum)")})))
        ${columns("normalize", "$visible", (load, store) => store("$target", `(f32x4.mul ${load("$target")} (local.get $value))`))}))
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $eachRow)))
)`;

/** scale · y ⊙ (dy − Σ dy ⊙ y) per row (the row sum in four float32 lanes). */
const softmaxGradient = `
(func $softmaxGradient (export "softmaxGradient") (param $y i32) (param $dy i32) (param $out i32) (param $first i32)
  (param $count i32) (param $columns i32) (param $scale f32)
  (local $r i32) (local $end i32) (local $i i32) (local $yRow i32) (local $dyRow i32) (local $target i32)
  (local $dot v128) (local $lanes v128) (local $projection v128)
  (local.set $r (local.get $first))
  (local.set $end (i32.add (local.get $first) (local.get $count)))
  (block $rowsDone (loop $eachRow
    (br_if $rowsDone (i32.ge_s (local.get $r) (local.get $end)))
    (local.set $yRow ${rowPointer("$y", "$r")})
    (local.set $dyRow ${rowPointer("$dy", "$r")})
    (local.set $target ${rowPointer("$out", "$r")})
    (local.set $dot (v128.const f32x4 0 0 0 0))
    ${columns(
      "dot",
      "$columns",
      (load, _store, vector) => `(local.set $dot (f32x4.add (local.get $dot)
      (v128.and (f32x4.mul ${load("$yRow")} ${load("$dyRow")}) ${laneMask(vector)})))`,
    )}
    (local.set $projection (f32x4.splat ${horizontalSum32("(local.get $dot)")}))
    ${columns("gradient", "$columns", (load, store) =>
      store(
        "$target",
        `(f32x4.mul (f32x4.splat (local.get $scale)) (f32x4.mul ${load("$yRow")} (f32x4.sub ${load("$dyRow")} (local.get $projection))))`,
      ),
    )}
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $eachRow)))
)`;

/** The RMS-norm gradient with respect to x per row: r·(g − x·r²·mean(g ⊙ x)), g = dy ⊙ w (sums in float64). */
const rmsNormGradient = `
(func $rmsNormGradient (export "rmsNormGradient") (param $x i32) (param $weight i32) (param $dy i32) (param $out i32)
  (param $first i32) (param $count i32) (param $columns i32) (param $epsilon f32)
  (local $r i32) (local $end i32) (local $i i32) (local $xRow i32) (local $dyRow i32) (local $target i32)
  (local $value v128) (local $product v128) (local $squaresLow v128) (local $squaresHigh v128)
  (local $dotLow v128) (local $dotHigh v128) (local $reciprocal f64) (local $projection f64)
  (local.set $r (local.get $first))
  (local.set $end (i32.add (local.get $first) (local.get $count)))
  (block $rowsDone (loop $eachRow
    (br_if $rowsDone (i32.ge_s (local.get $r) (local.get $end)))
    (local.set $xRow ${rowPointer("$x", "$r")})
    (local.set $dyRow ${rowPointer("$dy", "$r")})
    (local.set $target ${rowPointer("$out", "$r")})
    (local.set $squaresLow (v128.const i64x2 0 0))
    (local.set $squaresHigh (v128.const i64x2 0 0))
    (local.set $dotLow (v128.const i64x2 0 0))
    (local.set $dotHigh (v128.const i64x2 0 0))
    ${columns(
      "sums",
      "$columns",
      (load, _store, vector) => `
    (local.set $value (v128.and ${load("$xRow")} ${laneMask(vector)}))
    (local.set $product (v128.and (f32x4.mul ${load("$dyRow")} ${load("$weight")}) ${laneMask(vector)}))
    (local.set $squaresLow (f64x2.add (local.get $squaresLow) (f64x2.mul ${promote("(local.get $value)", true)} ${promote("(local.get $value)", true)})))
    (local.set $squaresHigh (f64x2.add (local.get $squaresHigh) (f64x2.mul ${promote("(local.get $value)", false)} ${promote("(local.get $value)", false)})))
    (local.set $dotLow (f64x2.add (local.get $dotLow) (f64x2.mul ${promote("(local.get $product)", true)} ${promote("(local.get $value)", true)})))
    (local.set $dotHigh (f64x2.add (local.get $dotHigh) (f64x2.mul ${promote("(local.get $product)", false)} ${promote("(local.get $value)", false)})))`,
    )}
    (local.set $reciprocal (f64.div (f64.const 1) (f64.sqrt (f64.add
      (f64.div ${horizontalSum64("(f64x2.add (local.get $squaresLow) (local.get $squaresHigh))")} (f64.convert_i32_s (local.get $columns)))
      (f64.promote_f32 (local.get $epsilon))))))
    (local.set $projection (f64.mul (f64.mul (local.get $reciprocal) (local.get $reciprocal))
      (f64.div ${horizontalSum64("(f64x2.add (local.get $dotLow) (local.get $dotHigh))")} (f64.convert_i32_s (local.get $columns)))))
    ${columns("gradient", "$columns", (load, store) =>
      store(
        "$target",
        `(f32x4.mul (f32x4.splat (f32.demote_f64 (local.get $reciprocal)))
          (f32x4.sub (f32x4.mul ${load("$dyRow")} ${load("$weight")})
                     (f32x4.mul ${load("$xRow")} (f32x4.splat (f32.demote_f64 (local.get $projection))))))`,
      ),
    )}
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $eachRow)))
)`;

/**
 * Rotary embedding, rotate-half: for i < half, out[i] = x[i]·cos[i] − x[i + half]·sin[i] and
 * out[i + half] = x[i + half]·cos[i + half] + x[i]·sin[i + half] (products rounded, then the sum, as the
 * reference). Rows `first .. first + count` of `[outer·sequence, headDim]`.
 */
const rotaryEmbedding = `
(func $rotaryEmbedding (export "rotaryEmbedding") (param $x i32) (param $cos i32) (param $sin i32) (param $out i32)
  (param $first i32) (param $count i32) (param $sequence i32) (param $headDim i32)
  (local $r i32) (local $end i32) (local $i i32) (local $half i32) (local $columns i32) (local $table i32)
  (local $firstX i32) (local $secondX i32) (local $firstOut i32) (local $secondOut i32)
  (local $firstCos i32) (local $secondCos i32) (local $firstSin i32) (local $secondSin i32)
  (local.set $columns (local.get $headDim))
  (local.set $half (i32.shr_u (local.get $headDim) (i32.const 1)))
  (local.set $r (local.get $first))
  (local.set $end (i32.add (local.get $first) (local.get $count)))
  (block $rowsDone (loop $eachRow
    (br_if $rowsDone (i32.ge_s (local.get $r) (local.get $end)))
    (local.set $firstX ${rowPointer("$x", "$r")})
    (local.set $firstOut ${rowPointer("$out", "$r")})
    (local.set $table (i32.shl (i32.mul (i32.rem_s (local.get $r) (local.get $sequence)) (local.get $columns)) (i32.const 2)))
    (local.set $firstCos (i32.add (local.get $cos) (local.get $table)))
    (local.set $firstSin (i32.add (local.get $sin) (local.get $table)))
    (local.set $secondX (i32.add (local.get $firstX) (i32.shl (local.get $half) (i32.const 2))))
    (local.set $secondOut (i32.add (local.get $firstOut) (i32.shl (local.get $half) (i32.const 2))))
    (local.set $secondCos (i32.add (local.get $firstCos) (i32.shl (local.get $half) (i32.const 2))))
    (local.set $secondSin (i32.add (local.get $firstSin) (i32.shl (local.get $half) (i32.const 2))))
    ${columns(
      "rotate",
      "$half",
      (load, store) => `
    ${store("$firstOut", `(f32x4.sub (f32x4.mul ${load("$firstX")} ${load("$firstCos")}) (f32x4.mul ${load("$secondX")} ${load("$firstSin")}))`)}
    ${store("$secondOut", `(f32x4.add (f32x4.mul ${load("$secondX")} ${load("$secondCos")}) (f32x4.mul ${load("$firstX")} ${load("$secondSin")}))`)}`,
    )}
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $eachRow)))
)`;

/**
 * Row maximum and Σ exp(x − max) (float64 lanes) of the row at `$row`, `$columns` wide, into $largest/$total;
 * with `keep` (an i32 local pointing at a row of the same width), each exp(x − max) is also stored there, so a
 * later pass that needs them (the gradient) reads them instead of computing every exponential again.
 */
const rowStatistics = (keep) => `
    (local.set $maximum ${f32x4("-inf")})
    ${columns(
      "maximum",
      "$columns",
      (load, _store, vector) => `(local.set $maximum (f32x4.max (local.get $maximum)
      (v128.bitselect ${load("$row")} ${f32x4("-inf")} ${laneMask(vector)})))`,
    )}
    (local.set $largest ${horizontalMax32("(local.get $maximum)")})
    (local.set $low (v128.const i64x2 0 0))
    (local.set $high (v128.const i64x2 0 0))
    ${columns(
      "sum",
      "$columns",
      (load, store, vector) => `
    (local.set $value (v128.and ${expInline(`(f32x4.sub ${load("$row")} (f32x4.splat (local.get $largest)))`)} ${laneMask(vector)}))
    ${keep === undefined ? "" : store(keep, "(local.get $value)")}
    (local.set $low (f64x2.add (local.get $low) ${promote("(local.get $value)", true)}))
    (local.set $high (f64x2.add (local.get $high) ${promote("(local.get $value)", false)}))`,
    )}
    (local.set $total ${horizontalSum64("(f64x2.add (local.get $low) (local.get $high))")})`;

const crossEntropyLocals = `(local $r i32) (local $end i32) (local $i i32) (local $row i32) (local $label i32)
  (local $maximum v128) (local $value v128) (local $lanes v128) (local $low v128) (local $high v128)
  (local $largest f32) (local $total f64) ${expLocals}`;

/**
 * Per-row cross-entropy: log Σ exp(x − m) − (x_label − m), 0 for the ignore index, NaN for a label outside
 * [0, classes). The sum is accumulated in float64 lanes; the log of its float32 rounding is the vector log.
 */
const crossEntropyRows = `
(func $crossEntropyRows (export "crossEntropyRows") (param $logits i32) (param $labels i32) (param $out i32)
  (param $first i32) (param $count i32) (param $columns i32) (param $ignoreIndex i32)
  ${crossEntropyLocals} ${logLocals}
  (local.set $r (local.get $first))
  (local.set $end (i32.add (local.get $first) (local.get $count)))
  (block $rowsDone (loop $eachRow
    (br_if $rowsDone (i32.ge_s (local.get $r) (local.get $end)))
    (local.set $label (i32.load ${at("$labels", "$r")}))
    (if (i32.eq (local.get $label) (local.get $ignoreIndex))
      (then (f32.store ${at("$out", "$r")} (f32.const 0)))
      (else (if (i32.ge_u (local.get $label) (local.get $columns))
        (then (f32.store ${at("$out", "$r")} (f32.const nan)))
        (else
          (local.set $row ${rowPointer("$logits", "$r")})
          ${rowStatistics()}
          (f32.store ${at("$out", "$r")} (f32.sub
            (f32x4.extract_lane 0 ${logInline("(f32x4.splat (f32.demote_f64 (local.get $total)))")})
            (f32.sub (f32.load ${at("$row", "$label")}) (local.get $largest))))))))
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $eachRow)))
)`;

/** The fused cross-entropy gradient per row: scale·(softmax − onehot(label)); 0 on ignored rows, NaN on invalid ones. */
const crossEntropyGradient = `
(func $crossEntropyGradient (export "crossEntropyGradient") (param $logits i32) (param $labels i32) (param $scaleAt i32)
  (param $out i32) (param $first i32) (param $count i32) (param $columns i32) (param $ignoreIndex i32)
  ${crossEntropyLocals} (local $target i32) (local $factor v128) (local $scale f32)
  (local.set $scale (f32.load (local.get $scaleAt)))
  (local.set $r (local.get $first))
  (local.set $end (i32.add (local.get $first) (local.get $count)))
  (block $rowsDone (loop $eachRow
    (br_if $rowsDone (i32.ge_s (local.get $r) (local.get $end)))
    (local.set $label (i32.load ${at("$labels", "$r")}))
    (local.set $target ${rowPointer("$out", "$r")})
    (if (i32.eq (local.get $label) (local.get $ignoreIndex))
      (then (memory.fill (local.get $target) (i32.const 0) (i32.shl (local.get $columns) (i32.const 2))))
      (else (if (i32.ge_u (local.get $label) (local.get $columns))
        (then
          (local.set $i (i32.const 0))
          (block $nanDone (loop $nan
            (br_if $nanDone (i32.ge_s (local.get $i) (local.get $columns)))
            (f32.store ${at("$target", "$i")} (f32.const nan))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $nan))))
        (else
          (local.set $row ${rowPointer("$logits", "$r")})
          ${rowStatistics("$target")}
          (local.set $factor (f32x4.splat (f32.demote_f64 (f64.div (f64.promote_f32 (local.get $scale)) (local.get $total)))))
          ;; the exponentials were kept in the target row: scale them
          ${columns("gradient", "$columns", (load, store) =>
            store("$target", `(f32x4.mul ${load("$target")} (local.get $factor))`),
          )}
          (f32.store ${at("$target", "$label")} (f32.sub (f32.load ${at("$target", "$label")}) (local.get $scale)))))))
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $eachRow)))
)`;

/** SwiGLU and its gradient as maps: silu(g)·u; dy·u·σ(g)(1 + g(1 − σ(g))) (input 0) or dy·g·σ(g) (input 1). */
const swiGluFunctions = [
  mapFunction(
    "swiGlu",
    2,
    "",
    () => `(f32x4.mul (f32x4.mul (local.get $v0) ${sigmoidOf("(local.get $v0)")}) (local.get $v1))`,
    expLocals,
  ),
  mapFunction(
    "swiGluGradientGate",
    3,
    "",
    () => `(block (result v128)
      (local.set $sigmoid ${sigmoidOf("(local.get $v0)")})
      (f32x4.mul (f32x4.mul (local.get $v2) (local.get $v1))
        (f32x4.mul (local.get $sigmoid)
          (f32x4.add ${f32x4(1)} (f32x4.mul (local.get $v0) (f32x4.sub ${f32x4(1)} (local.get $sigmoid)))))))`,
    `${expLocals} (local $sigmoid v128)`,
  ),
  mapFunction(
    "swiGluGradientUp",
    3,
    "",
    () => `(f32x4.mul (local.get $v2) (f32x4.mul (local.get $v0) ${sigmoidOf("(local.get $v0)")}))`,
    expLocals,
  ),
].join("\n");

/**
 * Strided copy into a contiguous target: element (i0, i1, i2, i3) comes from source + (Σ iₐ·sₐ)·bytes, strides in
 * elements; a contiguous innermost axis (s3 = 1) is one memory.copy per run. Transpose and slice are this.
 */
const stridedCopy = `
(func $stridedCopy (export "stridedCopy") (param $source i32) (param $target i32) (param $bytes i32)
  (param $e0 i32) (param $e1 i32) (param $e2 i32) (param $e3 i32) (param $s0 i32) (param $s1 i32) (param $s2 i32) (param $s3 i32)
  (local $i0 i32) (local $i1 i32) (local $i2 i32) (local $i3 i32) (local $from i32) (local $run i32)
  (local.set $run (i32.mul (local.get $e3) (local.get $bytes)))
  (block $d0 (loop $l0
    (br_if $d0 (i32.ge_s (local.get $i0) (local.get $e0)))
    (local.set $i1 (i32.const 0))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_s (local.get $i1) (local.get $e1)))
      (local.set $i2 (i32.const 0))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_s (local.get $i2) (local.get $e2)))
        (local.set $from (i32.add (local.get $source) (i32.mul (local.get $bytes)
          (i32.add (i32.add (i32.mul (local.get $i0) (local.get $s0)) (i32.mul (local.get $i1) (local.get $s1)))
                   (i32.mul (local.get $i2) (local.get $s2))))))
        (if (i32.eq (local.get $s3) (i32.const 1))
          (then (memory.copy (local.get $target) (local.get $from) (local.get $run)))
          (else
            (local.set $i3 (i32.const 0))
            (block $d3 (loop $l3
              (br_if $d3 (i32.ge_s (local.get $i3) (local.get $e3)))
              (if (i32.eq (local.get $bytes) (i32.const 4))
                (then (i32.store (i32.add (local.get $target) (i32.shl (local.get $i3) (i32.const 2)))
                  (i32.load (i32.add (local.get $from) (i32.shl (i32.mul (local.get $i3) (local.get $s3)) (i32.const 2))))))
                (else (i32.store16 (i32.add (local.get $target) (i32.shl (local.get $i3) (i32.const 1)))
                  (i32.load16_u (i32.add (local.get $from) (i32.shl (i32.mul (local.get $i3) (local.get $s3)) (i32.const 1)))))))
              (local.set $i3 (i32.add (local.get $i3) (i32.const 1)))
              (br $l3)))))
        (local.set $target (i32.add (local.get $target) (local.get $run)))
        (local.set $i2 (i32.add (local.get $i2) (i32.const 1)))
        (br $l2)))
      (local.set $i1 (i32.add (local.get $i1) (i32.const 1)))
      (br $l1)))
    (local.set $i0 (i32.add (local.get $i0) (i32.const 1)))
    (br $l0)))
)

;; rows × rowBytes from source (sourceStride bytes apart) to target (targetStride bytes apart): concatenation
(func $copyRows (export "copyRows") (param $source i32) (param $sourceStride i32) (param $target i32)
  (param $targetStride i32) (param $rows i32) (param $rowBytes i32)
  (local $r i32)
  (block $done (loop $each
    (br_if $done (i32.ge_s (local.get $r) (local.get $rows)))
    (memory.copy (i32.add (local.get $target) (i32.mul (local.get $r) (local.get $targetStride)))
                 (i32.add (local.get $source) (i32.mul (local.get $r) (local.get $sourceStride))) (local.get $rowBytes))
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $each)))
)

;; target row i = table row indices[i] (indices checked by the caller): embedding lookup
(func $gatherRows (export "gatherRows") (param $table i32) (param $indices i32) (param $count i32) (param $rowBytes i32)
  (param $target i32)
  (local $i i32)
  (block $done (loop $each
    (br_if $done (i32.ge_s (local.get $i) (local.get $count)))
    (memory.copy (i32.add (local.get $target) (i32.mul (local.get $i) (local.get $rowBytes)))
                 (i32.add (local.get $table) (i32.mul (i32.load ${at("$indices", "$i")}) (local.get $rowBytes)))
                 (local.get $rowBytes))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $each)))
)`;

/**
 * Index (int32) of the first maximum of each row of `[rows, columns]`, a NaN counting as the maximum (the
 * reference's rule): the row maximum in f32x4 lanes (NaN propagates), then the first index equal to it (or the
 * first NaN). Greedy decoding picks its token with it.
 */
const argmaxRows = `
(func $argmaxRows (export "argmaxRows") (param $in i32) (param $out i32) (param $rows i32) (param $columns i32)
  (local $r i32) (local $i i32) (local $row i32) (local $maximum v128) (local $lanes v128) (local $largest f32)
  (local $value f32) (local $found i32)
  (block $rowsDone (loop $eachRow
    (br_if $rowsDone (i32.ge_s (local.get $r) (local.get $rows)))
    (local.set $row ${rowPointer("$in", "$r")})
    (local.set $maximum ${f32x4("-inf")})
    ${columns(
      "maximum",
      "$columns",
      (load, _store, vector) => `(local.set $maximum (f32x4.max (local.get $maximum)
      (v128.bitselect ${load("$row")} ${f32x4("-inf")} ${laneMask(vector)})))`,
    )}
    (local.set $largest ${horizontalMax32("(local.get $maximum)")})
    (local.set $found (i32.const 0))
    (local.set $i (i32.const 0))
    (block $searchDone (loop $search
      (br_if $searchDone (i32.ge_s (local.get $i) (local.get $columns)))
      (local.set $value (f32.load ${at("$row", "$i")}))
      (if (i32.or (f32.eq (local.get $value) (local.get $largest))
                  (i32.and (f32.ne (local.get $largest) (local.get $largest)) (f32.ne (local.get $value) (local.get $value))))
        (then (local.set $found (local.get $i)) (br $searchDone)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $search)))
    (i32.store ${at("$out", "$r")} (local.get $found))
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $eachRow)))
)`;

/** The WebAssembly text of the fused and layout kernels (to be placed inside the kernels' module). */
export function fusedWat() {
  return [
    maskedSoftmax,
    softmaxGradient,
    rmsNormGradient,
    rotaryEmbedding,
    crossEntropyRows,
    crossEntropyGradient,
    swiGluFunctions,
    stridedCopy,
    argmaxRows,
  ].join("\n");
}

/** Job kinds of the row kernels (run by the thread pool), for build-wasm.mjs's job table. */
export const fusedJobKinds = [
  {
    name: "maskedSoftmax",
    call: "$maskedSoftmax",
    parameters: ["i32", "i32", "i32", "i32", "i32", "f32", "i32", "i32", "i32"],
    work: false,
  },
  {
    name: "softmaxGradient",
    call: "$softmaxGradient",
    parameters: ["i32", "i32", "i32", "i32", "i32", "i32", "f32"],
    work: false,
  },
  {
    name: "rmsNormGradient",
    call: "$rmsNormGradient",
    parameters: ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "f32"],
    work: false,
  },
  { name: "rotaryEmbedding", call: "$rotaryEmbedding", parameters: Array(8).fill("i32"), work: false },
  { name: "crossEntropyRows", call: "$crossEntropyRows", parameters: Array(7).fill("i32"), work: false },
  {
    name: "crossEntropyGradient",
    call: "$crossEntropyGradient",
    parameters: Array(8).fill("i32"),
    work: false,
  },
  { name: "swiGlu", call: "$swiGlu", parameters: Array(4).fill("i32"), work: false },
  { name: "swiGluGradientGate", call: "$swiGluGradientGate", parameters: Array(5).fill("i32"), work: false },
  { name: "swiGluGradientUp", call: "$swiGluGradientUp", parameters: Array(5).fill("i32"), work: false },
];
