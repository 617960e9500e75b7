// Generates the WebAssembly text of the single-precision GEMM: C = op(A) · op(B) (op = identity or transpose).
//
// Structure (Goto/BLIS): for each NC-wide column block of C, for each KC-deep slice of the shared dimension,
// pack the KC×NC block of op(B) into NR-wide panels (k-major, zero-padded) — or, when A has few rows and B is
// row-major, read B's strips in place — then for each MC-high row block of op(A) either pack it into MR-high
// panels (k-major, zero-padded) or, when B is skinny and A row-major (every A element is used at most twice),
// read A in place with one deep slice, and sweep the MR×NR register-blocked micro-kernel over the block. Packed
// panels live in a per-thread work area; C tiles at the ragged edges go through a small scratch tile.
//
// All pointers are byte offsets into linear memory; leading dimensions are in elements.

import { elementTypes, halfLocals } from "./half-wat.mjs";

/** Rows of the micro-kernel (broadcast A values). */
export const MR = 3;
/**
 * Columns of the micro-kernel (3 f32x4 vectors of B per row). V8 gives WebAssembly 15 of x64's SIMD registers:
 * the 3×12 tile holds 9 accumulators, 3 B vectors and 1 broadcast. Nine independent multiply-add chains
 * cover the FMA latency × throughput product (4 cycles × 2 per cycle) with one to spare, where 4×8's eight
 * left none: in-cache 52–54 against 48–51 GFLOP/s per core (57 ceiling, Zen 4); the forward-shaped products of
 * the 8-layer SmolLM2 (256 rows) 3–5 % faster on one thread and 10–20 % on two. Wider tiles spill: 4×16 and
 * 4×12 ran at ~30 and ~6 GFLOP/s, 5×8 and 6×8 at 22 and 6.
 */
export const NR = 12;
/**
 * Greatest depth of a packed slice: an MR×KC A panel (7.5 KiB) plus a KC×NR B panel (30 KiB) stay in L1. The
 * shared dimension is cut into equal slices of at most KC (k = 576 is one slice, not 512 + 64: every extra slice
 * reads and writes all of C once more).
 */
export const KC = 640;
/** Rows of op(A) per packed block (a multiple of MR): MC×KC×4 bytes = 165 KiB of L2, next to the packed B block. */
export const MC = 66;
/** Columns of op(B) per packed block (a multiple of NR): KC×NC×4 bytes = 1.23 MiB, streamed from L2/L3 once per MC rows. */
export const NC = 504;
/**
 * Read row-major A in place (no packing) when op(B) has at most this many columns (the tall-skinny case):
 * every element of A is then used at most twice, so packing would only add memory traffic.
 */
export const DIRECT_A_MAX_COLUMNS = 2 * NR;
/**
 * Depth of a slice in the in-place case: the whole skinny op(B) (up to DIRECT_KC × DIRECT_A_MAX_COLUMNS
 * floats, the size of the packed B buffer) is packed once and each micro-kernel call streams MR rows of A from
 * start to end, so C is written once and the hardware prefetcher sees MR long sequential streams.
 */
export const DIRECT_KC = (KC * NC) / DIRECT_A_MAX_COLUMNS;

/**
 * Read row-major float32 B in place (no packing) when op(A) has at most this many rows: each NR-wide strip of B
 * then feeds only m/MR micro-kernel calls, too few to pay for copying it into a panel first. Measured on one
 * thread over the SmolLM2 layer shapes (W as B of X·W): 16 rows (a randomized SVD's products with a weight)
 * 2.0–2.3 → 1.6 ms (packing had been a third of the time), 32 rows 3.27 → 3.15 ms, 64 rows slower in place
 * (6.4–6.6 → 6.7–7.5 ms). The strip is read with a stride of ldb per k step; a ragged last strip is still
 * packed (zero-padded, so nothing past B is read).
 */
export const DIRECT_B_MAX_ROWS = 32;

/** `transB` value of the `gemm` export meaning "B is already packed whole" (see `packPanels`). */
export const PREPACKED_B = 2;

/** Floats of the packed A buffer: an MC×KC block, or one ragged MR×DIRECT_KC panel in the in-place case. */
const PACKED_A_FLOATS = Math.max(MC * KC, MR * DIRECT_KC);

/** Bytes of the per-thread work area that `gemm` needs: packed B block, packed A block, one C tile. */
export const GEMM_WORK_BYTES = (KC * NC + PACKED_A_FLOATS + MR * NR) * 4;

const vectorsPerRow = NR / 4;

/**
 * Panels that the row-major path of `packB` fills together: PACK_GROUP·NR floats (384 bytes) of a row of B per
 * step, written to PACK_GROUP sequential streams.
 */
const PACK_GROUP = 8;

/** Emits one multiply-accumulate `c += x * b` on f32x4 values. */
function multiplyAdd(accumulator, broadcast, vector, relaxed) {
  if (relaxed) {
    return `(local.set ${accumulator} (f32x4.relaxed_madd (local.get ${broadcast}) (local.get ${vector}) (local.get ${accumulator})))`;
  }
  return `(local.set ${accumulator} (f32x4.add (local.get ${accumulator}) (f32x4.mul (local.get ${broadcast}) (local.get ${vector}))))`;
}

/**
 * The micro-kernel: an MR×NR block of C from an A micro-panel and a B micro-panel: NR floats per k step,
 * `bStep` bytes apart (4·NR in a packed panel, 4·ldb for row-major B read in place).
 *
 * `addressing` is "panel" (A value (r, p) at a + p·aStep + 4r: a packed panel, aStep = 4·MR) or "rows"
 * (A value (r, p) at a + r·aStep + 4p: row-major A read in place, aStep = 4·lda).
 * `accumulate` != 0 adds to C, otherwise C is overwritten. `ldc` is in bytes.
 */
function microKernel(name, addressing, relaxed) {
  const lines = [];
  const accumulators = [];
  for (let row = 0; row < MR; row++) {
    for (let vector = 0; vector < vectorsPerRow; vector++) accumulators.push(`$c${row}_${vector}`);
  }
  lines.push(
    `(func $${name} (param $kc i32) (param $a i32) (param $aStep i32) (param $b i32) (param $bStep i32) (param $c i32) (param $ldc i32) (param $accumulate i32)`,
  );
  for (const accumulator of accumulators) lines.push(`  (local ${accumulator} v128)`);
  for (let vector = 0; vector < vectorsPerRow; vector++) lines.push(`  (local $b${vector} v128)`);
  lines.push("  (local $x v128)");
  const rowPointer = (row) => (row === 0 ? "$a" : `$a${row}`);
  if (addressing === "rows") {
    for (let row = 1; row < MR; row++) lines.push(`  (local $a${row} i32)`);
    for (let row = 1; row < MR; row++) {
      lines.push(
        `  (local.set $a${row} (i32.add (local.get $a) (i32.mul (local.get $aStep) (i32.const ${row}))))`,
      );
    }
  }
  // One k step per iteration, not unrolled: unrolling lets TurboFan hoist the next step's loads above this
  // step's multiply-adds, which needs more registers than x64 has and spills (measured 2× slower).
  lines.push("  (block $done (loop $main");
  lines.push("    (br_if $done (i32.eqz (local.get $kc)))");
  for (let vector = 0; vector < vectorsPerRow; vector++) {
    lines.push(`    (local.set $b${vector} (v128.load offset=${vector * 16} (local.get $b)))`);
  }
  for (let row = 0; row < MR; row++) {
    if (addressing === "rows") {
      lines.push(`    (local.set $x (v128.load32_splat (local.get ${rowPointer(row)})))`);
    } else {
      lines.push(`    (local.set $x (v128.load32_splat offset=${row * 4} (local.get $a)))`);
    }
    for (let vector = 0; vector < vectorsPerRow; vector++) {
      lines.push(`    ${multiplyAdd(`$c${row}_${vector}`, "$x", `$b${vector}`, relaxed)}`);
    }
  }
  if (addressing === "panel") lines.push("    (local.set $a (i32.add (local.get $a) (local.get $aStep)))");
  if (addressing === "rows") {
    for (let row = 0; row < MR; row++) {
      lines.push(`    (local.set ${rowPointer(row)} (i32.add (local.get ${rowPointer(row)}) (i32.const 4)))`);
    }
  }
  lines.push("    (local.set $b (i32.add (local.get $b) (local.get $bStep)))");
  lines.push("    (local.set $kc (i32.sub (local.get $kc) (i32.const 1)))");
  lines.push("    (br $main)))");
  // Write back: C (+)= accumulators, one row pointer at a time.
  lines.push("  (if (local.get $accumulate) (then");
  for (let row = 0; row < MR; row++) {
    for (let vector = 0; vector < vectorsPerRow; vector++) {
      lines.push(
        `    (v128.store offset=${vector * 16} (local.get $c) (f32x4.add (v128.load offset=${vector * 16} (local.get $c)) (local.get $c${row}_${vector})))`,
      );
    }
    if (row < MR - 1) lines.push("    (local.set $c (i32.add (local.get $c) (local.get $ldc)))");
  }
  lines.push("  ) (else");
  for (let row = 0; row < MR; row++) {
    for (let vector = 0; vector < vectorsPerRow; vector++) {
      lines.push(`    (v128.store offset=${vector * 16} (local.get $c) (local.get $c${row}_${vector}))`);
    }
    if (row < MR - 1) lines.push("    (local.set $c (i32.add (local.get $c) (local.get $ldc)))");
  }
  lines.push("  )))");
  return lines.join("\n");
}

/** i8x16.shuffle byte indices selecting the float lanes `indices` from the concatenation of two vectors. */
function shuffleLanes(...indices) {
  return indices.flatMap((lane) => [0, 1, 2, 3].map((byte) => lane * 4 + byte)).join(" ");
}

/** The address of row q of a strided source: `source` + q·`stride` (i32 locals). */
function rowAddress(source, stride, q) {
  return q === 0
    ? `(local.get ${source})`
    : `(i32.add (local.get ${source}) (i32.mul (local.get ${stride}) (i32.const ${q})))`;
}

/**
 * Inline 4×4 transpose: the 4-element rows at $s, $s + stride, $s + 2·stride, $s + 3·stride (stride: an i32
 * local, bytes; elements of `element`'s storage type, widened to float32) become the 4-float rows at
 * $d + q·dstStride (a constant), q = 0..3.
 * Uses the v128 locals $r0..$r3, $t0..$t3 of the calling function.
 */
function transpose4(source, stride, target, targetStride, element = elementTypes[0]) {
  const lanes = shuffleLanes;
  const row = (q) => rowAddress(source, stride, q);
  return `(local.set $r0 ${element.load4(row(0))})
          (local.set $r1 ${element.load4(row(1))})
          (local.set $r2 ${element.load4(row(2))})
          (local.set $r3 ${element.load4(row(3))})
          (local.set $t0 (i8x16.shuffle ${lanes(0, 4, 1, 5)} (local.get $r0) (local.get $r1)))
          (local.set $t1 (i8x16.shuffle ${lanes(2, 6, 3, 7)} (local.get $r0) (local.get $r1)))
          (local.set $t2 (i8x16.shuffle ${lanes(0, 4, 1, 5)} (local.get $r2) (local.get $r3)))
          (local.set $t3 (i8x16.shuffle ${lanes(2, 6, 3, 7)} (local.get $r2) (local.get $r3)))
          (v128.store offset=0 (local.get ${target}) (i8x16.shuffle ${lanes(0, 1, 4, 5)} (local.get $t0) (local.get $t2)))
          (v128.store offset=${targetStride} (local.get ${target}) (i8x16.shuffle ${lanes(2, 3, 6, 7)} (local.get $t0) (local.get $t2)))
          (v128.store offset=${2 * targetStride} (local.get ${target}) (i8x16.shuffle ${lanes(0, 1, 4, 5)} (local.get $t1) (local.get $t3)))
          (v128.store offset=${3 * targetStride} (local.get ${target}) (i8x16.shuffle ${lanes(2, 3, 6, 7)} (local.get $t1) (local.get $t3)))`;
}

/**
 * Four k steps of an MR-row panel of row-major A: the 4-element runs at $s + q·stride (q < MR) become the
 * panel's 4·MR floats at $d (k-major: the MR values of each k step together). MR = 4 is a 4×4 transpose; for
 * MR = 3, rows x, y, z become x0 y0 z0 x1 | y1 z1 x2 y2 | z2 x3 y3 z3 through five two-vector shuffles.
 * Uses the v128 locals $r0..$r2, $t0..$t2 of the calling function.
 */
function interleaveRows(source, stride, target, element) {
  if (MR === 4) return transpose4(source, stride, target, MR * 4, element);
  if (MR !== 3) throw new Error(`no row interleave for MR = ${MR}`);
  const lanes = shuffleLanes;
  const row = (q) => rowAddress(source, stride, q);
  return `(local.set $r0 ${element.load4(row(0))})
          (local.set $r1 ${element.load4(row(1))})
          (local.set $r2 ${element.load4(row(2))})
          (local.set $t0 (i8x16.shuffle ${lanes(0, 4, 1, 5)} (local.get $r0) (local.get $r1)))
          (local.set $t1 (i8x16.shuffle ${lanes(1, 5, 2, 6)} (local.get $r1) (local.get $r2)))
          (local.set $t2 (i8x16.shuffle ${lanes(3, 7, 3, 7)} (local.get $r0) (local.get $r1)))
          (v128.store offset=0 (local.get ${target}) (i8x16.shuffle ${lanes(0, 1, 4, 2)} (local.get $t0) (local.get $r2)))
          (v128.store offset=16 (local.get ${target}) (i8x16.shuffle ${lanes(0, 1, 6, 2)} (local.get $t1) (local.get $r0)))
          (v128.store offset=32 (local.get ${target}) (i8x16.shuffle ${lanes(2, 4, 5, 3)} (local.get $r2) (local.get $t2)))`;
}

/** One k step of packing transposed A: the MR contiguous values at $source become MR floats at $dst. */
function copyTransposedStep(element) {
  if (MR === 4) return `(v128.store (local.get $dst) ${element.load4("(local.get $source)")})`;
  return Array.from(
    { length: MR },
    (_, row) =>
      `(f32.store offset=${row * 4} (local.get $dst) ${element.load1(`(i32.add (local.get $source) (i32.const ${row << element.shift}))`)})`,
  ).join("\n          ");
}

const transposeLocals =
  "(local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)";

/**
 * Packs the kc×nc block of op(B) starting at (p0, j0) into NR-wide k-major float32 panels at dst, zero-padding
 * the last panel. op(B)(p, j) is B[p·ldb + j] (not transposed) or B[j·ldb + p] (transposed), stored as
 * `element` (float32, or a 16-bit type widened while it is copied).
 */
const packB = (element) => `
(func $packB_${element.name} (param $b i32) (param $ldb i32) (param $transB i32) (param $p0 i32) (param $j0 i32)
             (param $kc i32) (param $nc i32) (param $dst i32)
  (local $jp i32) (local $columns i32) (local $p i32) (local $j i32) (local $source i32) (local $out i32)
  (local $stride i32) (local $s i32) (local $d i32) (local $group i32) (local $groupEnd i32)
  ${transposeLocals} ${halfLocals}
  (if (i32.and (i32.eqz (local.get $transB)) (i32.ge_u (local.get $nc) (i32.const ${NR})))
    (then
      ;; row-major B: copy the full NR-wide panels a group of PACK_GROUP panels at a time, one row of B per
      ;; step (p inner): each step reads one contiguous run of the row and appends NR floats to each of the
      ;; group's panels, so the writes go to a few sequential streams instead of one per panel of the block
      (local.set $stride (i32.mul (local.get $kc) (i32.const ${NR * 4})))
      (local.set $columns (i32.sub (local.get $nc) (i32.rem_u (local.get $nc) (i32.const ${NR}))))
      (local.set $group (i32.const 0))
      (block $groupsDone (loop $eachGroup
        (br_if $groupsDone (i32.ge_u (local.get $group) (local.get $columns)))
        (local.set $groupEnd (i32.add (local.get $group) (i32.const ${PACK_GROUP * NR})))
        (if (i32.gt_u (local.get $groupEnd) (local.get $columns)) (then (local.set $groupEnd (local.get $columns))))
        (local.set $p (i32.const 0))
        (block $rowsDone (loop $eachRow
          (br_if $rowsDone (i32.ge_u (local.get $p) (local.get $kc)))
          (local.set $source (i32.add (local.get $b) (i32.shl
            (i32.add (i32.mul (i32.add (local.get $p0) (local.get $p)) (local.get $ldb)) (i32.add (local.get $j0) (local.get $group)))
            (i32.const ${element.shift}))))
          ;; panel group/NR, row p
          (local.set $d (i32.add (i32.add (local.get $dst) (i32.mul (local.get $p) (i32.const ${NR * 4})))
                                 (i32.mul (i32.div_u (local.get $group) (i32.const ${NR})) (local.get $stride))))
          (local.set $j (local.get $group))
          (block $stripsDone (loop $eachStrip
            (br_if $stripsDone (i32.ge_u (local.get $j) (local.get $groupEnd)))
            ${Array.from({ length: vectorsPerRow }, (_, vector) => `(v128.store offset=${vector * 16} (local.get $d) ${element.load4("(local.get $source)", vector * (4 << element.shift))})`).join("\n            ")}
            (local.set $source (i32.add (local.get $source) (i32.const ${NR << element.shift})))
            (local.set $d (i32.add (local.get $d) (local.get $stride)))
            (local.set $j (i32.add (local.get $j) (i32.const ${NR})))
            (br $eachStrip)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $eachRow)))
        (local.set $group (local.get $groupEnd))
        (br $eachGroup)))))
  (local.set $jp (i32.const 0))
  (block $panelsDone (loop $panels
    (br_if $panelsDone (i32.ge_u (local.get $jp) (local.get $nc)))
    (local.set $columns (i32.sub (local.get $nc) (local.get $jp)))
    (if (i32.gt_u (local.get $columns) (i32.const ${NR})) (then (local.set $columns (i32.const ${NR}))))
    (if (i32.and (local.get $transB) (i32.eq (local.get $columns) (i32.const ${NR})))
      (then
        ;; transposed B: 4×4 transposes of 4 columns × 4 k steps, then the ragged k steps one by one
        (local.set $stride (i32.shl (local.get $ldb) (i32.const ${element.shift})))
        (local.set $source (i32.add (local.get $b) (i32.shl
          (i32.add (i32.mul (i32.add (local.get $j0) (local.get $jp)) (local.get $ldb)) (local.get $p0)) (i32.const ${element.shift}))))
        (local.set $p (i32.const 0))
        (block $blocksDone (loop $blocks
          (br_if $blocksDone (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $kc)))
          ${Array.from(
            { length: NR / 4 },
            (
              _,
              group,
            ) => `(local.set $s (i32.add (local.get $source) (i32.mul (local.get $stride) (i32.const ${4 * group}))))
          (local.set $d (i32.add (local.get $dst) (i32.const ${16 * group})))
          ${transpose4("$s", "$stride", "$d", NR * 4, element)}`,
          ).join("\n          ")}
          (local.set $source (i32.add (local.get $source) (i32.const ${4 << element.shift})))
          (local.set $dst (i32.add (local.get $dst) (i32.const ${4 * NR * 4})))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (br $blocks)))
        (block $tailDone (loop $tail
          (br_if $tailDone (i32.ge_u (local.get $p) (local.get $kc)))
          ${Array.from({ length: NR }, (_, column) => `(f32.store offset=${column * 4} (local.get $dst) ${element.load1(`(i32.add (local.get $source) (i32.mul (local.get $stride) (i32.const ${column})))`)})`).join("\n          ")}
          (local.set $source (i32.add (local.get $source) (i32.const ${1 << element.shift})))
          (local.set $dst (i32.add (local.get $dst) (i32.const ${NR * 4})))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $tail))))
    (else
    (if (i32.and (i32.eqz (local.get $transB)) (i32.eq (local.get $columns) (i32.const ${NR})))
      (then
        ;; contiguous rows of B: already copied by the row-wise pass above
        (local.set $dst (i32.add (local.get $dst) (i32.mul (local.get $kc) (i32.const ${NR * 4})))))
      (else
        ;; general case: one column at a time (contiguous along k when B is transposed), zero padding
        (local.set $j (i32.const 0))
        (block $columnsDone (loop $eachColumn
          (br_if $columnsDone (i32.ge_u (local.get $j) (i32.const ${NR})))
          (local.set $out (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2))))
          (if (i32.lt_u (local.get $j) (local.get $columns))
            (then
              (local.set $p (i32.const 0))
              (block $done (loop $eachK
                (br_if $done (i32.ge_u (local.get $p) (local.get $kc)))
                (f32.store (local.get $out) ${element.load1(`(i32.add (local.get $b) (i32.shl
                  (if (result i32) (local.get $transB)
                    (then (i32.add (i32.mul (i32.add (i32.add (local.get $j0) (local.get $jp)) (local.get $j)) (local.get $ldb))
                                   (i32.add (local.get $p0) (local.get $p))))
                    (else (i32.add (i32.mul (i32.add (local.get $p0) (local.get $p)) (local.get $ldb))
                                   (i32.add (i32.add (local.get $j0) (local.get $jp)) (local.get $j)))))
                  (i32.const ${element.shift})))`)})
                (local.set $out (i32.add (local.get $out) (i32.const ${NR * 4})))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $eachK))))
            (else
              (local.set $p (i32.const 0))
              (block $done (loop $zeroK
                (br_if $done (i32.ge_u (local.get $p) (local.get $kc)))
                (f32.store (local.get $out) (f32.const 0))
                (local.set $out (i32.add (local.get $out) (i32.const ${NR * 4})))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $zeroK)))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $eachColumn)))
        (local.set $dst (i32.add (local.get $dst) (i32.mul (local.get $kc) (i32.const ${NR * 4}))))))))
    (local.set $jp (i32.add (local.get $jp) (i32.const ${NR})))
    (br $panels)))
)`;

/**
 * Packs the mc×kc block of op(A) starting at (i0, p0) into MR-high k-major float32 panels at dst, zero-padding
 * the last panel. op(A)(i, p) is A[i·lda + p] (not transposed) or A[p·lda + i] (transposed), stored as
 * `element`.
 */
const packA = (element) => `
(func $packA_${element.name} (param $a i32) (param $lda i32) (param $transA i32) (param $i0 i32) (param $p0 i32)
             (param $mc i32) (param $kc i32) (param $dst i32)
  (local $ip i32) (local $rows i32) (local $p i32) (local $r i32) (local $source i32) (local $out i32)
  (local $stride i32) ${transposeLocals} ${halfLocals}
  (local.set $ip (i32.const 0))
  (block $panelsDone (loop $panels
    (br_if $panelsDone (i32.ge_u (local.get $ip) (local.get $mc)))
    (local.set $rows (i32.sub (local.get $mc) (local.get $ip)))
    (if (i32.gt_u (local.get $rows) (i32.const ${MR})) (then (local.set $rows (i32.const ${MR}))))
    (if (i32.and (i32.eqz (local.get $transA)) (i32.eq (local.get $rows) (i32.const ${MR})))
      (then
        ;; row-major A: MR rows × 4 k steps interleaved at a time, then the ragged k steps one by one
        (local.set $stride (i32.shl (local.get $lda) (i32.const ${element.shift})))
        (local.set $source (i32.add (local.get $a) (i32.shl
          (i32.add (i32.mul (i32.add (local.get $i0) (local.get $ip)) (local.get $lda)) (local.get $p0)) (i32.const ${element.shift}))))
        (local.set $p (i32.const 0))
        (block $blocksDone (loop $blocks
          (br_if $blocksDone (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $kc)))
          ${interleaveRows("$source", "$stride", "$dst", element)}
          (local.set $source (i32.add (local.get $source) (i32.const ${4 << element.shift})))
          (local.set $dst (i32.add (local.get $dst) (i32.const ${4 * MR * 4})))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (br $blocks)))
        (block $tailDone (loop $tail
          (br_if $tailDone (i32.ge_u (local.get $p) (local.get $kc)))
          ${Array.from({ length: MR }, (_, row) => `(f32.store offset=${row * 4} (local.get $dst) ${element.load1(`(i32.add (local.get $source) (i32.mul (local.get $stride) (i32.const ${row})))`)})`).join("\n          ")}
          (local.set $source (i32.add (local.get $source) (i32.const ${1 << element.shift})))
          (local.set $dst (i32.add (local.get $dst) (i32.const ${MR * 4})))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $tail))))
    (else
    (if (i32.and (local.get $transA) (i32.eq (local.get $rows) (i32.const ${MR})))
      (then
        ;; transposed A: the MR values of one k step are contiguous
        (local.set $source (i32.add (local.get $a) (i32.shl
          (i32.add (i32.mul (local.get $p0) (local.get $lda)) (i32.add (local.get $i0) (local.get $ip))) (i32.const ${element.shift}))))
        (local.set $p (i32.const 0))
        (block $copyDone (loop $copy
          (br_if $copyDone (i32.ge_u (local.get $p) (local.get $kc)))
          ${copyTransposedStep(element)}
          (local.set $source (i32.add (local.get $source) (i32.shl (local.get $lda) (i32.const ${element.shift}))))
          (local.set $dst (i32.add (local.get $dst) (i32.const ${MR * 4})))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $copy))))
      (else
        (local.set $r (i32.const 0))
        (block $rowsDone (loop $eachRow
          (br_if $rowsDone (i32.ge_u (local.get $r) (i32.const ${MR})))
          (local.set $out (i32.add (local.get $dst) (i32.shl (local.get $r) (i32.const 2))))
          (if (i32.lt_u (local.get $r) (local.get $rows))
            (then
              (local.set $p (i32.const 0))
              (block $done (loop $eachK
                (br_if $done (i32.ge_u (local.get $p) (local.get $kc)))
                (f32.store (local.get $out) ${element.load1(`(i32.add (local.get $a) (i32.shl
                  (if (result i32) (local.get $transA)
                    (then (i32.add (i32.mul (i32.add (local.get $p0) (local.get $p)) (local.get $lda))
                                   (i32.add (i32.add (local.get $i0) (local.get $ip)) (local.get $r))))
                    (else (i32.add (i32.mul (i32.add (i32.add (local.get $i0) (local.get $ip)) (local.get $r)) (local.get $lda))
                                   (i32.add (local.get $p0) (local.get $p)))))
                  (i32.const ${element.shift})))`)})
                (local.set $out (i32.add (local.get $out) (i32.const ${MR * 4})))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $eachK))))
            (else
              (local.set $p (i32.const 0))
              (block $done (loop $zeroK
                (br_if $done (i32.ge_u (local.get $p) (local.get $kc)))
                (f32.store (local.get $out) (f32.const 0))
                (local.set $out (i32.add (local.get $out) (i32.const ${MR * 4})))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $zeroK)))))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $eachRow)))
        (local.set $dst (i32.add (local.get $dst) (i32.mul (local.get $kc) (i32.const ${MR * 4}))))))))
    (local.set $ip (i32.add (local.get $ip) (i32.const ${MR})))
    (br $panels)))
)`;

/** Adds (or copies) the rows×columns top-left part of the scratch tile (row stride NR) into C (ldc bytes). */
const mergeTile = `
(func $mergeTile (param $tile i32) (param $c i32) (param $ldc i32) (param $rows i32) (param $columns i32) (param $accumulate i32)
  (local $r i32) (local $j i32) (local $source i32) (local $target i32)
  (local.set $r (i32.const 0))
  (block $rowsDone (loop $eachRow
    (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
    (local.set $source (i32.add (local.get $tile) (i32.mul (local.get $r) (i32.const ${NR * 4}))))
    (local.set $target (i32.add (local.get $c) (i32.mul (local.get $r) (local.get $ldc))))
    (local.set $j (i32.const 0))
    (block $columnsDone (loop $eachColumn
      (br_if $columnsDone (i32.ge_u (local.get $j) (local.get $columns)))
      (f32.store (local.get $target)
        (if (result f32) (local.get $accumulate)
          (then (f32.add (f32.load (local.get $target)) (f32.load (local.get $source))))
          (else (f32.load (local.get $source)))))
      (local.set $source (i32.add (local.get $source) (i32.const 4)))
      (local.set $target (i32.add (local.get $target) (i32.const 4)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $eachColumn)))
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (br $eachRow)))
)`;

/**
 * `$packB` / `$packA` with the operand's storage type code (0 float32, 1 bfloat16, 2 float16) as the first
 * argument: calls the variant that widens that type.
 */
function typeDispatch(name, parameters) {
  const forward = parameters.map((parameter) => `(local.get ${parameter})`).join(" ");
  return `
(func $${name} (param $type i32) ${parameters.map((parameter) => `(param ${parameter} i32)`).join(" ")}
  (if (i32.eqz (local.get $type))
    (then (call $${name}_${elementTypes[0].name} ${forward}))
    (else (if (i32.eq (local.get $type) (i32.const 1))
      (then (call $${name}_${elementTypes[1].name} ${forward}))
      (else (call $${name}_${elementTypes[2].name} ${forward}))))))`;
}

/**
 * The driver: C[m×n] (ldc) = op(A)[m×k] · op(B)[k×n]; `work` points at GEMM_WORK_BYTES of per-thread scratch.
 * `aType`/`bType` are the operands' storage types (0 float32, 1 bfloat16, 2 float16): 16-bit operands are
 * widened while their panels are packed, so no float32 copy of a whole operand is ever made. transB =
 * PREPACKED_B (2) means B was packed whole beforehand by `packPanels` (a cached weight): B points at its first
 * panel, and ldb and bType are unused. k = 0 writes zeros.
 */
const driver = `
(func $gemm (export "gemm") (param $m i32) (param $n i32) (param $k i32)
            (param $a i32) (param $lda i32) (param $transA i32)
            (param $b i32) (param $ldb i32) (param $transB i32)
            (param $c i32) (param $ldc i32) (param $aType i32) (param $bType i32) (param $work i32)
  (local $packedB i32) (local $packedA i32) (local $tile i32) (local $direct i32) (local $kcLimit i32)
  (local $jc i32) (local $nc i32) (local $pc i32) (local $kc i32) (local $ic i32) (local $mc i32)
  (local $jr i32) (local $nr i32) (local $ir i32) (local $mr i32) (local $accumulate i32)
  (local $panelB i32) (local $target i32) (local $ldcBytes i32) (local $i i32) (local $panelDepth i32)
  (local $full i32) (local $destination i32) (local $destinationStride i32) (local $destinationAccumulate i32)
  (local $directB i32) (local $stripStep i32)
  (local.set $packedA (i32.add (local.get $work) (i32.const ${KC * NC * 4})))
  (local.set $tile (i32.add (local.get $packedA) (i32.const ${PACKED_A_FLOATS * 4})))
  (local.set $ldcBytes (i32.shl (local.get $ldc) (i32.const 2)))
  ;; in place only for row-major A (transposed A read in place is strided by lda at every k step)
  ;; (and float32 A: the micro-kernel reads A's elements as they are stored)
  (local.set $direct (i32.and (i32.and (i32.le_u (local.get $n) (i32.const ${DIRECT_A_MAX_COLUMNS})) (i32.eqz (local.get $transA)))
                              (i32.eqz (local.get $aType))))
  (local.set $kcLimit (select (i32.const ${DIRECT_KC}) (i32.const ${KC}) (local.get $direct)))
  ;; B read in place: row-major float32 B and few rows of A (not with A in place, where B is skinny and packed)
  (local.set $directB (i32.and (i32.and (i32.eqz (local.get $transB)) (i32.eqz (local.get $bType)))
                               (i32.and (i32.le_u (local.get $m) (i32.const ${DIRECT_B_MAX_ROWS})) (i32.eqz (local.get $direct)))))
  (if (i32.eqz (local.get $k)) (then
    ;; empty shared dimension: C = 0
    (local.set $ic (i32.const 0))
    (block $zeroDone (loop $zeroRows
      (br_if $zeroDone (i32.ge_u (local.get $ic) (local.get $m)))
      (memory.fill (i32.add (local.get $c) (i32.mul (local.get $ic) (local.get $ldcBytes))) (i32.const 0) (i32.shl (local.get $n) (i32.const 2)))
      (local.set $ic (i32.add (local.get $ic) (i32.const 1)))
      (br $zeroRows)))
    (return)))
  ;; equal slices: kcLimit = ⌈k / ⌈k / kcLimit⌉⌉
  (local.set $kcLimit (i32.div_u (i32.add (local.get $k) (i32.sub (local.get $kcLimit) (i32.const 1))) (local.get $kcLimit)))
  (local.set $kcLimit (i32.div_u (i32.add (local.get $k) (i32.sub (local.get $kcLimit) (i32.const 1))) (local.get $kcLimit)))
  (local.set $jc (i32.const 0))
  (block $jcDone (loop $jcLoop
    (br_if $jcDone (i32.ge_u (local.get $jc) (local.get $n)))
    (local.set $nc (i32.sub (local.get $n) (local.get $jc)))
    (if (i32.gt_u (local.get $nc) (i32.const ${NC})) (then (local.set $nc (i32.const ${NC}))))
    (local.set $pc (i32.const 0))
    (block $pcDone (loop $pcLoop
      (br_if $pcDone (i32.ge_u (local.get $pc) (local.get $k)))
      (local.set $kc (i32.sub (local.get $k) (local.get $pc)))
      (if (i32.gt_u (local.get $kc) (local.get $kcLimit)) (then (local.set $kc (local.get $kcLimit))))
      (local.set $accumulate (i32.ne (local.get $pc) (i32.const 0)))
      (if (i32.eq (local.get $transB) (i32.const ${PREPACKED_B}))
        (then
          ;; B already packed whole ([panel][k][NR], see packPanels): this block starts at panel jc/NR, row pc
          (local.set $packedB (i32.add (local.get $b) (i32.shl
            (i32.add (i32.mul (local.get $jc) (local.get $k)) (i32.mul (local.get $pc) (i32.const ${NR}))) (i32.const 2))))
          (local.set $panelDepth (local.get $k)))
        (else (if (local.get $directB)
          (then
            ;; B in place: this block starts at row pc, column jc of B
            (local.set $packedB (i32.add (local.get $b) (i32.shl
              (i32.add (i32.mul (local.get $pc) (local.get $ldb)) (local.get $jc)) (i32.const 2)))))
          (else
            (local.set $packedB (local.get $work))
            (local.set $panelDepth (local.get $kc))
            (call $packB (local.get $bType) (local.get $b) (local.get $ldb) (local.get $transB) (local.get $pc) (local.get $jc)
                         (local.get $kc) (local.get $nc) (local.get $packedB))))))
      (local.set $ic (i32.const 0))
      (block $icDone (loop $icLoop
        (br_if $icDone (i32.ge_u (local.get $ic) (local.get $m)))
        (local.set $mc (i32.sub (local.get $m) (local.get $ic)))
        (if (i32.gt_u (local.get $mc) (i32.const ${MC})) (then (local.set $mc (i32.const ${MC}))))
        (if (i32.eqz (local.get $direct)) (then
          (call $packA (local.get $aType) (local.get $a) (local.get $lda) (local.get $transA) (local.get $ic) (local.get $pc)
                       (local.get $mc) (local.get $kc) (local.get $packedA))))
        (local.set $jr (i32.const 0))
        (block $jrDone (loop $jrLoop
          (br_if $jrDone (i32.ge_u (local.get $jr) (local.get $nc)))
          (local.set $nr (i32.sub (local.get $nc) (local.get $jr)))
          (if (i32.gt_u (local.get $nr) (i32.const ${NR})) (then (local.set $nr (i32.const ${NR}))))
          (local.set $stripStep (i32.const ${NR * 4}))
          (if (i32.eqz (local.get $directB))
            (then
              (local.set $panelB (i32.add (local.get $packedB) (i32.mul (local.get $jr) (i32.shl (local.get $panelDepth) (i32.const 2))))))
            (else (if (i32.eq (local.get $nr) (i32.const ${NR}))
              (then
                ;; a full strip of B in place: NR floats per k step, ldb apart
                (local.set $panelB (i32.add (local.get $packedB) (i32.shl (local.get $jr) (i32.const 2))))
                (local.set $stripStep (i32.shl (local.get $ldb) (i32.const 2))))
              (else
                ;; the ragged last strip: packed (zero-padded) into the unused B block, so nothing past B is read
                (local.set $panelB (local.get $work))
                (call $packB (local.get $bType) (local.get $b) (local.get $ldb) (local.get $transB) (local.get $pc)
                             (i32.add (local.get $jc) (local.get $jr)) (local.get $kc) (local.get $nr) (local.get $panelB))))))
          (local.set $ir (i32.const 0))
          (block $irDone (loop $irLoop
            (br_if $irDone (i32.ge_u (local.get $ir) (local.get $mc)))
            (local.set $mr (i32.sub (local.get $mc) (local.get $ir)))
            (if (i32.gt_u (local.get $mr) (i32.const ${MR})) (then (local.set $mr (i32.const ${MR}))))
            (local.set $i (i32.add (local.get $ic) (local.get $ir)))
            (local.set $target (i32.add (local.get $c) (i32.shl
              (i32.add (i32.mul (local.get $i) (local.get $ldc)) (i32.add (local.get $jc) (local.get $jr))) (i32.const 2))))
            ;; full tiles go straight to C, ragged ones through the scratch tile
            (local.set $full (i32.and (i32.eq (local.get $mr) (i32.const ${MR})) (i32.eq (local.get $nr) (i32.const ${NR}))))
            (local.set $destination (select (local.get $target) (local.get $tile) (local.get $full)))
            (local.set $destinationStride (select (local.get $ldcBytes) (i32.const ${NR * 4}) (local.get $full)))
            (local.set $destinationAccumulate (i32.and (local.get $accumulate) (local.get $full)))
            (if (i32.eqz (local.get $direct))
              (then
                ;; packed A block: panel ir/MR
                (call $kernelPanel (local.get $kc)
                  (i32.add (local.get $packedA) (i32.mul (local.get $ir) (i32.shl (local.get $kc) (i32.const 2))))
                  (i32.const ${MR * 4}) (local.get $panelB) (local.get $stripStep)
                  (local.get $destination) (local.get $destinationStride) (local.get $destinationAccumulate)))
              (else
                (if (i32.eq (local.get $mr) (i32.const ${MR}))
                  (then
                    ;; row-major A read in place, MR row pointers
                    (call $kernelRows (local.get $kc)
                      (i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $lda)) (local.get $pc)) (i32.const 2)))
                      (i32.shl (local.get $lda) (i32.const 2)) (local.get $panelB) (local.get $stripStep)
                      (local.get $destination) (local.get $destinationStride) (local.get $destinationAccumulate)))
                  (else
                    ;; ragged last rows: pack them (zero-padded) so that nothing past A is read
                    (call $packA (local.get $aType) (local.get $a) (local.get $lda) (local.get $transA) (local.get $i) (local.get $pc)
                                 (local.get $mr) (local.get $kc) (local.get $packedA))
                    (call $kernelPanel (local.get $kc) (local.get $packedA) (i32.const ${MR * 4}) (local.get $panelB)
                                       (local.get $stripStep) (local.get $destination) (local.get $destinationStride) (local.get $destinationAccumulate))))))
            (if (i32.eqz (local.get $full)) (then
              (call $mergeTile (local.get $tile) (local.get $target) (local.get $ldcBytes) (local.get $mr) (local.get $nr) (local.get $accumulate))))
            (local.set $ir (i32.add (local.get $ir) (i32.const ${MR})))
            (br $irLoop)))
          (local.set $jr (i32.add (local.get $jr) (i32.const ${NR})))
          (br $jrLoop)))
        (local.set $ic (i32.add (local.get $ic) (i32.const ${MC})))
        (br $icLoop)))
      (local.set $pc (i32.add (local.get $pc) (local.get $kcLimit)))
      (br $pcLoop)))
    (local.set $jc (i32.add (local.get $jc) (i32.const ${NC})))
    (br $jcLoop)))
)`;

/**
 * Packs all of op(B) — or the panels of columns j0 .. j0 + n of it, j0 a multiple of NR — for `gemm`'s prepacked
 * mode: NR-wide panels of the whole depth k, each k-major and zero-padded ([panel][k][NR] float32), at dst
 * (the panel of column j0 at dst). Threads pack disjoint panel ranges of one buffer in parallel.
 */
const packPanels = `
(func $packPanels (export "packPanels") (param $b i32) (param $ldb i32) (param $transB i32) (param $bType i32)
                  (param $k i32) (param $j0 i32) (param $n i32) (param $dst i32)
  (call $packB (local.get $bType) (local.get $b) (local.get $ldb) (local.get $transB) (i32.const 0) (local.get $j0)
               (local.get $k) (local.get $n) (local.get $dst))
)`;

/**
 * The WebAssembly text of every GEMM function (to be placed inside a module that has a memory).
 *
 * @param {{relaxed: boolean}} options relaxed: use `f32x4.relaxed_madd` (fused where the engine fuses).
 */
export function gemmWat({ relaxed }) {
  return [
    microKernel("kernelPanel", "panel", relaxed),
    microKernel("kernelRows", "rows", relaxed),
    ...elementTypes.map((element) => packB(element)),
    ...elementTypes.map((element) => packA(element)),
    typeDispatch("packB", ["$b", "$ldb", "$transB", "$p0", "$j0", "$kc", "$nc", "$dst"]),
    typeDispatch("packA", ["$a", "$lda", "$transA", "$i0", "$p0", "$mc", "$kc", "$dst"]),
    mergeTile,
    driver,
    packPanels,
  ].join("\n");
}
