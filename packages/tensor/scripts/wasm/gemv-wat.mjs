// Generates the WebAssembly text of the matrix-vector kernels: C[m×n] = A[m×k] · op(B) for m ≤ 4 rows of A
// (decoding one token, or a few), where the GEMM's packing would cost as much as the product. These kernels are
// bound by reading B once: B is streamed straight from its storage (float32, or bfloat16/float16 widened as it
// is loaded), never packed or copied.
//
// - transposed B (a linear layer's weight W[n×k], y = x·Wᵀ): each row of W is dotted with every row of x as it
//   streams by, with 4 (m ≤ 2) or 2 (m = 3, 4) f32x4 partial sums per row of x so that the chains hide the add
//   latency and the accumulators fit in the 16 SIMD registers; the sums are reduced at the end of the row. W is
//   read once, as one sequential stream (interleaving several rows of W halved the bandwidth: shorter streams
//   for the prefetcher).
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
 * One output per row of A against one row of W (transposed B), streaming that row once: c[r] = Σ_p a[r, p] · w[p],
 * `unroll` f32x4 partial sums per row of A (independent chains that hide the add latency), four·unroll k steps
 * per iteration. Params: k, a, lda, w (the row), c (the output of row 0), ldc.
 */
function transposedRow(element, m, unroll) {
  const name = `$gemvT_${element.name}_m${m}_row`;
  const accumulators = range(m).flatMap((r) => range(unroll).map((u) => `$acc${r}_${u}`));
  const lines = [
    `(func ${name} (param $k i32) (param $a i32) (param $lda i32) (param $w i32) (param $c i32) (param $ldc i32)`,
    `  (local $p i32) (local $lanes v128) ${range(unroll)
      .map((u) => `(local $w${u} v128)`)
      .join(" ")}`,
    `  ${range(m)
      .map((r) => `(local $a${r} i32) (local $tail${r} f32)`)
      .join(" ")} ${accumulators.map((name) => `(local ${name} v128)`).join(" ")}`,
    `  (local $xs f32) (local $ws f32) ${halfLocals}`,
  ];
  for (let r = 0; r < m; r++) {
    lines.push(
      `  (local.set $a${r} (i32.add (local.get $a) (i32.shl (i32.mul (local.get $lda) (i32.const ${r})) (i32.const 2))))`,
    );
  }
  const stepElements = 4 * unroll;
  lines.push("  (block $vectorsDone (loop $vectors");
  lines.push(
    `    (br_if $vectorsDone (i32.gt_s (i32.add (local.get $p) (i32.const ${stepElements})) (local.get $k)))`,
  );
  for (let u = 0; u < unroll; u++)
    lines.push(`    (local.set $w${u} ${element.load4("(local.get $w)", u * (4 << element.shift))})`);
  for (let r = 0; r < m; r++) {
    for (let u = 0; u < unroll; u++) {
      lines.push(
        `    (local.set $acc${r}_${u} (f32x4.add (local.get $acc${r}_${u}) (f32x4.mul (v128.load offset=${u * 16} (local.get $a${r})) (local.get $w${u}))))`,
      );
    }
    lines.push(`    (local.set $a${r} (i32.add (local.get $a${r}) (i32.const ${stepElements * 4})))`);
  }
  lines.push(`    (local.set $w (i32.add (local.get $w) (i32.const ${stepElements << element.shift})))`);
  lines.push(`    (local.set $p (i32.add (local.get $p) (i32.const ${stepElements})))`);
  lines.push("    (br $vectors)))");
  lines.push("  (block $tailDone (loop $tail");
  lines.push("    (br_if $tailDone (i32.ge_s (local.get $p) (local.get $k)))");
  lines.push(`    (local.set $ws ${element.load1("(local.get $w)")})`);
  for (let r = 0; r < m; r++) {
    lines.push(
      `    (local.set $tail${r} (f32.add (local.get $tail${r}) (f32.mul (f32.load (local.get $a${r})) (local.get $ws))))`,
    );
    lines.push(`    (local.set $a${r} (i32.add (local.get $a${r}) (i32.const 4)))`);
  }
  lines.push(`    (local.set $w (i32.add (local.get $w) (i32.const ${1 << element.shift})))`);
  lines.push("    (local.set $p (i32.add (local.get $p) (i32.const 1)))");
  lines.push("    (br $tail)))");
  for (let r = 0; r < m; r++) {
    const sum = range(unroll)
      .map((u) => `(local.get $acc${r}_${u})`)
      .reduce((left, right) => `(f32x4.add ${left} ${right})`);
    lines.push(`  (local.set $lanes ${sum})`);
    lines.push(
      `  (f32.store (i32.add (local.get $c) (i32.shl (i32.mul (local.get $ldc) (i32.const ${r})) (i32.const 2)))
      (f32.add ${horizontalSum("$lanes")} (local.get $tail${r})))`,
    );
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
          (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $ldbBytes)))
          (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))) (local.get $ldc))
        (local.set $j (i32.add (local.get $j) (i32.const ${size})))`
      : `(call ${helper} (local.get $k) (local.get $a) (local.get $lda)
          (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const ${element.shift}))) (local.get $ldbBytes)
          (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))) (local.get $ldc))
        (local.set $j (i32.add (local.get $j) (i32.const ${size})))`;
  const sizes = transposed ? [1] : [16, 4, 1];
  for (const size of sizes) {
    const helper = transposed
      ? transposedRow(element, m, m <= 2 ? 4 : 2)
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
