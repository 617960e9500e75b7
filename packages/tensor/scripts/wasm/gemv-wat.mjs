// Generates the WebAssembly text of the matrix-vector kernels: C[m×n] = A[m×k] · op(B) for m ≤ 4 rows of A
// (decoding one token, or a few), where the GEMM's packing would cost as much as the product. These kernels are
// bound by reading B once: B is streamed straight from its storage (float32, or bfloat16/float16 widened as it
// is loaded), never packed or copied.
//
// - transposed B (a linear layer's weight W[n×k], y = x·Wᵀ): a block of R rows of W is dotted with each of the m
//   rows of x at once, f32x4 partial sums per (row of x, row of W), four k steps per vector; the sums are reduced
//   at the end of the row. R = 4 for m ≤ 2 and 2 for m = 3, 4, so that the m·R accumulators, R vectors of W and
//   one of x fit in the 16 SIMD registers. Every element of W is read once, in long sequential runs.
// - row-major B (W[k×n], y = x·W): a chunk of 16 columns of C (four f32x4 accumulators per row of x) is
//   accumulated down the k rows of W (a splat of x[r, p] times 64 bytes of row p), then stored; W is read in
//   whole cache lines.
//
// Pointers are byte offsets; lda, ldb and ldc are in elements. A calling plan splits n across threads.
import { elementTypes, halfLocals } from "./half-wat.mjs";

/** Rows of A these kernels handle. */
export const GEMV_MAX_ROWS = 4;

const range = (count) => Array.from({ length: count }, (_, index) => index);

/** Horizontal sum of an f32x4 local. */
const horizontalSum = (vector) =>
  `(f32.add (f32.add (f32x4.extract_lane 0 (local.get ${vector})) (f32x4.extract_lane 1 (local.get ${vector})))
            (f32.add (f32x4.extract_lane 2 (local.get ${vector})) (f32x4.extract_lane 3 (local.get ${vector}))))`;

/**
 * R outputs per row of A against R consecutive rows of W (transposed B): c[r, q] = Σ_p a[r, p] · w[q, p].
 * Params: k, a (first row of A), lda, w (row q = w + q·ldbBytes), ldbBytes, c (first output), ldc.
 */
function transposedBlock(element, m, rows) {
  const name = `$gemvT_${element.name}_m${m}_r${rows}`;
  const accumulators = range(m).flatMap((r) => range(rows).map((q) => `$acc${r}_${q}`));
  const lines = [
    `(func ${name} (param $k i32) (param $a i32) (param $lda i32) (param $w i32) (param $ldbBytes i32) (param $c i32) (param $ldc i32)`,
    `  (local $p i32) (local $x v128) ${range(rows)
      .map((q) => `(local $w${q} v128) (local $row${q} i32)`)
      .join(" ")}`,
    `  ${range(m)
      .map((r) => `(local $a${r} i32)`)
      .join(" ")} ${accumulators.map((name) => `(local ${name} v128)`).join(" ")}`,
    `  ${accumulators.map((name) => `(local ${name.replace("acc", "tail")} f32)`).join(" ")} (local $xs f32) ${halfLocals}`,
  ];
  for (let q = 0; q < rows; q++) {
    lines.push(
      `  (local.set $row${q} (i32.add (local.get $w) (i32.mul (local.get $ldbBytes) (i32.const ${q}))))`,
    );
  }
  for (let r = 0; r < m; r++) {
    lines.push(
      `  (local.set $a${r} (i32.add (local.get $a) (i32.shl (i32.mul (local.get $lda) (i32.const ${r})) (i32.const 2))))`,
    );
  }
  const step = element.shift === 2 ? 16 : 8;
  lines.push("  (block $vectorsDone (loop $vectors");
  lines.push("    (br_if $vectorsDone (i32.gt_s (i32.add (local.get $p) (i32.const 4)) (local.get $k)))");
  for (let q = 0; q < rows; q++)
    lines.push(`    (local.set $w${q} ${element.load4(`(local.get $row${q})`)})`);
  for (let r = 0; r < m; r++) {
    lines.push(`    (local.set $x (v128.load (local.get $a${r})))`);
    for (let q = 0; q < rows; q++) {
      lines.push(
        `    (local.set $acc${r}_${q} (f32x4.add (local.get $acc${r}_${q}) (f32x4.mul (local.get $x) (local.get $w${q}))))`,
      );
    }
    lines.push(`    (local.set $a${r} (i32.add (local.get $a${r}) (i32.const 16)))`);
  }
  for (let q = 0; q < rows; q++)
    lines.push(`    (local.set $row${q} (i32.add (local.get $row${q}) (i32.const ${step})))`);
  lines.push("    (local.set $p (i32.add (local.get $p) (i32.const 4)))");
  lines.push("    (br $vectors)))");
  // The ragged last k steps, one by one.
  lines.push("  (block $tailDone (loop $tail");
  lines.push("    (br_if $tailDone (i32.ge_s (local.get $p) (local.get $k)))");
  for (let r = 0; r < m; r++) {
    lines.push(`    (local.set $xs (f32.load (local.get $a${r})))`);
    for (let q = 0; q < rows; q++) {
      lines.push(
        `    (local.set $tail${r}_${q} (f32.add (local.get $tail${r}_${q}) (f32.mul (local.get $xs) ${element.load1(`(local.get $row${q})`)})))`,
      );
    }
    lines.push(`    (local.set $a${r} (i32.add (local.get $a${r}) (i32.const 4)))`);
  }
  for (let q = 0; q < rows; q++) {
    lines.push(`    (local.set $row${q} (i32.add (local.get $row${q}) (i32.const ${1 << element.shift})))`);
  }
  lines.push("    (local.set $p (i32.add (local.get $p) (i32.const 1)))");
  lines.push("    (br $tail)))");
  for (let r = 0; r < m; r++) {
    for (let q = 0; q < rows; q++) {
      lines.push(
        `  (f32.store offset=${q * 4} (i32.add (local.get $c) (i32.shl (i32.mul (local.get $ldc) (i32.const ${r})) (i32.const 2)))
      (f32.add ${horizontalSum(`$acc${r}_${q}`)} (local.get $tail${r}_${q})))`,
      );
    }
  }
  lines.push(")");
  return { name, text: lines.join("\n") };
}

/**
 * Columns j .. j + 4V of C for every row of A, against row-major B: c[r, j + l] = Σ_p a[r, p] · b[p, j + l].
 * Params: k, a, lda, b (column j of row 0), ldbBytes, c (column j of row 0), ldc.
 */
function rowMajorChunk(element, m, vectors) {
  const name = `$gemvN_${element.name}_m${m}_v${vectors}`;
  const accumulators = range(m).flatMap((r) => range(vectors).map((v) => `$acc${r}_${v}`));
  const lines = [
    `(func ${name} (param $k i32) (param $a i32) (param $lda i32) (param $b i32) (param $ldbBytes i32) (param $c i32) (param $ldc i32)`,
    `  (local $p i32) (local $x v128) ${range(vectors)
      .map((v) => `(local $w${v} v128)`)
      .join(" ")}`,
    `  ${range(m)
      .map((r) => `(local $a${r} i32)`)
      .join(
        " ",
      )} ${accumulators.map((accumulator) => `(local ${accumulator} v128)`).join(" ")} ${halfLocals}`,
  ];
  for (let r = 0; r < m; r++) {
    lines.push(
      `  (local.set $a${r} (i32.add (local.get $a) (i32.shl (i32.mul (local.get $lda) (i32.const ${r})) (i32.const 2))))`,
    );
  }
  lines.push("  (block $rowsDone (loop $rows");
  lines.push("    (br_if $rowsDone (i32.ge_s (local.get $p) (local.get $k)))");
  for (let v = 0; v < vectors; v++)
    lines.push(`    (local.set $w${v} ${element.load4("(local.get $b)", v * (4 << element.shift))})`);
  for (let r = 0; r < m; r++) {
    lines.push(`    (local.set $x (v128.load32_splat (local.get $a${r})))`);
    for (let v = 0; v < vectors; v++) {
      lines.push(
        `    (local.set $acc${r}_${v} (f32x4.add (local.get $acc${r}_${v}) (f32x4.mul (local.get $x) (local.get $w${v}))))`,
      );
    }
    lines.push(`    (local.set $a${r} (i32.add (local.get $a${r}) (i32.const 4)))`);
  }
  lines.push("    (local.set $b (i32.add (local.get $b) (local.get $ldbBytes)))");
  lines.push("    (local.set $p (i32.add (local.get $p) (i32.const 1)))");
  lines.push("    (br $rows)))");
  for (let r = 0; r < m; r++) {
    for (let v = 0; v < vectors; v++) {
      lines.push(
        `  (v128.store offset=${v * 16} (i32.add (local.get $c) (i32.shl (i32.mul (local.get $ldc) (i32.const ${r})) (i32.const 2))) (local.get $acc${r}_${v}))`,
      );
    }
  }
  lines.push(")");
  return { name, text: lines.join("\n") };
}

/** One column j of C for every row of A against row-major B (the ragged last columns). */
function rowMajorColumn(element, m) {
  const name = `$gemvN_${element.name}_m${m}_column`;
  const lines = [
    `(func ${name} (param $k i32) (param $a i32) (param $lda i32) (param $b i32) (param $ldbBytes i32) (param $c i32) (param $ldc i32)`,
    `  (local $p i32) (local $w f32) ${range(m)
      .map((r) => `(local $a${r} i32) (local $sum${r} f32)`)
      .join(" ")} ${halfLocals}`,
  ];
  for (let r = 0; r < m; r++) {
    lines.push(
      `  (local.set $a${r} (i32.add (local.get $a) (i32.shl (i32.mul (local.get $lda) (i32.const ${r})) (i32.const 2))))`,
    );
  }
  lines.push("  (block $rowsDone (loop $rows");
  lines.push("    (br_if $rowsDone (i32.ge_s (local.get $p) (local.get $k)))");
  lines.push(`    (local.set $w ${element.load1("(local.get $b)")})`);
  for (let r = 0; r < m; r++) {
    lines.push(
      `    (local.set $sum${r} (f32.add (local.get $sum${r}) (f32.mul (f32.load (local.get $a${r})) (local.get $w))))`,
    );
    lines.push(`    (local.set $a${r} (i32.add (local.get $a${r}) (i32.const 4)))`);
  }
  lines.push("    (local.set $b (i32.add (local.get $b) (local.get $ldbBytes)))");
  lines.push("    (local.set $p (i32.add (local.get $p) (i32.const 1)))");
  lines.push("    (br $rows)))");
  for (let r = 0; r < m; r++) {
    lines.push(
      `  (f32.store (i32.add (local.get $c) (i32.shl (i32.mul (local.get $ldc) (i32.const ${r})) (i32.const 2))) (local.get $sum${r}))`,
    );
  }
  lines.push(")");
  return { name, text: lines.join("\n") };
}

/** The loop over n for one (orientation, element type, m): blocks of R rows of W (or chunks of columns), then the ragged rest. */
function driverFor(element, m, transposed, functions) {
  const name = `$gemv${transposed ? "T" : "N"}_${element.name}_m${m}`;
  const lines = [
    `(func ${name} (param $n i32) (param $k i32) (param $a i32) (param $lda i32) (param $b i32) (param $ldb i32) (param $c i32) (param $ldc i32)`,
    "  (local $j i32) (local $ldbBytes i32)",
    `  (local.set $ldbBytes (i32.shl (local.get $ldb) (i32.const ${element.shift})))`,
  ];
  const call = (helper, size) =>
    transposed
      ? `(call ${helper} (local.get $k) (local.get $a) (local.get $lda)
          (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $ldbBytes))) (local.get $ldbBytes)
          (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))) (local.get $ldc))
        (local.set $j (i32.add (local.get $j) (i32.const ${size})))`
      : `(call ${helper} (local.get $k) (local.get $a) (local.get $lda)
          (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const ${element.shift}))) (local.get $ldbBytes)
          (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))) (local.get $ldc))
        (local.set $j (i32.add (local.get $j) (i32.const ${size})))`;
  const sizes = transposed ? [m <= 2 ? 4 : 2, 1] : [16, 4, 1];
  for (const size of sizes) {
    const helper = transposed
      ? transposedBlock(element, m, size)
      : size === 1
        ? rowMajorColumn(element, m)
        : rowMajorChunk(element, m, size / 4);
    functions.push(helper.text);
    lines.push(`  (block $done${size} (loop $each${size}`);
    lines.push(
      `    (br_if $done${size} (i32.gt_s (i32.add (local.get $j) (i32.const ${size})) (local.get $n)))`,
    );
    lines.push(`    ${call(helper.name, size)}`);
    lines.push(`    (br $each${size})))`);
  }
  lines.push(")");
  functions.push(lines.join("\n"));
  return name;
}

/**
 * The WebAssembly text of the matrix-vector kernels and their export
 * `gemv(m, n, k, a, lda, b, ldb, transB, bType, c, ldc)`: C (m×n, ldc) = A (m×k, float32) · op(B), op(B) read
 * as `bType` (0 float32, 1 bfloat16, 2 float16), 1 ≤ m ≤ GEMV_MAX_ROWS.
 */
export function gemvWat() {
  const functions = [];
  const table = [];
  for (const transposed of [false, true]) {
    for (const element of elementTypes) {
      for (let m = 1; m <= GEMV_MAX_ROWS; m++)
        table.push({ transposed, type: element.code, m, name: driverFor(element, m, transposed, functions) });
    }
  }
  const dispatch = table
    .map(
      ({ transposed, type, m, name }) =>
        `(if (i32.and (i32.and (i32.eq (local.get $transB) (i32.const ${+transposed})) (i32.eq (local.get $bType) (i32.const ${type})))
              (i32.eq (local.get $m) (i32.const ${m})))
      (then (call ${name} (local.get $n) (local.get $k) (local.get $a) (local.get $lda) (local.get $b) (local.get $ldb) (local.get $c) (local.get $ldc)) (return)))`,
    )
    .join("\n  ");
  functions.push(`
(func $gemv (export "gemv") (param $m i32) (param $n i32) (param $k i32) (param $a i32) (param $lda i32)
            (param $b i32) (param $ldb i32) (param $transB i32) (param $bType i32) (param $c i32) (param $ldc i32)
  ${dispatch}
  unreachable
)`);
  return functions.join("\n");
}
