import {
  assembleModule,
  type FunctionSpec,
  f64,
  f64Load,
  f64Store,
  get,
  i32,
  i32Load,
  ifThen,
  increment,
  lane,
  op,
  set,
  splat,
  splatLoad,
  toByteAddress,
  type,
  vectorAdd,
  vectorLoad,
  vectorMultiply,
  vectorStore,
  vectorSubtract,
  whileLoop,
} from "./wasm-assembler.js";

/*
 * The WebAssembly SIMD (f64x2) versions of the kernels of svd-kernels.ts. Arguments are f64 element indices
 * into the memory (the kernels turn them into byte addresses), lengths in elements. Each loop takes two
 * elements per step and finishes an odd length with one scalar step. Element-wise updates use the same
 * operations in the same order as the JavaScript versions (no fused multiply-add), so they round identically;
 * dot products sum in two lanes, which changes only the order of a float64 sum.
 */

const { i32: I, f64: F, v128: V } = type;

/** A loop over pairs of elements while `remaining` ≥ 2, advancing `pointers` by 16 bytes; then the odd tail. */
function pairLoop(
  pointers: readonly number[],
  remaining: number,
  pairBody: number[],
  tailBody: number[],
): number[] {
  return [
    ...whileLoop(
      [...get(remaining), ...i32(2), op.i32LtS],
      [
        ...pairBody,
        ...pointers.flatMap((pointer) => increment(pointer, i32(16))),
        ...increment(remaining, i32(-2)),
      ],
    ),
    ...ifThen(get(remaining), tailBody),
  ];
}

/** f64x2 lanes summed: lane 0 + lane 1. */
const laneSum = (vector: number) => [...get(vector), ...lane(0), ...get(vector), ...lane(1), op.f64Add];

/**
 * reflectRows(row₀[, row₁], vector, length, τ): each row segment x ← x − τ·(x·v)·v.
 * Parameters: rows…, vector, length (i32), τ (f64).
 */
function reflectRows(rowCount: 1 | 2): FunctionSpec {
  const rows = Array.from({ length: rowCount }, (_, index) => index);
  const vectorParameter = rowCount;
  const lengthParameter = rowCount + 1;
  const tau = rowCount + 2;
  // i32 locals: row pointers, vector pointer, remaining; f64: factors; v128: accumulators, factors, v.
  const pointer = (row: number) => tau + 1 + row;
  const vectorPointer = tau + 1 + rowCount;
  const remaining = vectorPointer + 1;
  const factor = (row: number) => remaining + 1 + row;
  const accumulator = (row: number) => remaining + 1 + rowCount + row;
  const splatFactor = (row: number) => remaining + 1 + 2 * rowCount + row;
  const value = remaining + 1 + 3 * rowCount;
  const start = [
    ...rows.flatMap((row) => [...get(row), ...set(pointer(row)), ...toByteAddress(pointer(row))]),
    ...get(vectorParameter),
    ...set(vectorPointer),
    ...toByteAddress(vectorPointer),
    ...get(lengthParameter),
    ...set(remaining),
  ];
  const pointers = [...rows.map(pointer), vectorPointer];
  const body = [
    ...start,
    ...rows.flatMap((row) => [...f64(0), ...splat, ...set(accumulator(row))]),
    ...pairLoop(
      pointers,
      remaining,
      [
        ...get(vectorPointer),
        ...vectorLoad(),
        ...set(value),
        ...rows.flatMap((row) => [
          ...get(accumulator(row)),
          ...get(pointer(row)),
          ...vectorLoad(),
          ...get(value),
          ...vectorMultiply,
          ...vectorAdd,
          ...set(accumulator(row)),
        ]),
      ],
      // The odd tail's product; the factor local is still 0 when the length is even.
      rows.flatMap((row) => [
        ...get(pointer(row)),
        ...f64Load(),
        ...get(vectorPointer),
        ...f64Load(),
        op.f64Mul,
        ...set(factor(row)),
      ]),
    ),
    ...rows.flatMap((row) => [
      ...laneSum(accumulator(row)),
      ...get(factor(row)),
      op.f64Add,
      ...set(factor(row)),
    ]),
    ...rows.flatMap((row) => [
      ...get(tau),
      ...get(factor(row)),
      op.f64Mul,
      ...set(factor(row)),
      ...get(factor(row)),
      ...splat,
      ...set(splatFactor(row)),
    ]),
    ...start,
    ...pairLoop(
      pointers,
      remaining,
      [
        ...get(vectorPointer),
        ...vectorLoad(),
        ...set(value),
        ...rows.flatMap((row) => [
          ...get(pointer(row)),
          ...get(pointer(row)),
          ...vectorLoad(),
          ...get(splatFactor(row)),
          ...get(value),
          ...vectorMultiply,
          ...vectorSubtract,
          ...vectorStore(),
        ]),
      ],
      rows.flatMap((row) => [
        ...get(pointer(row)),
        ...get(pointer(row)),
        ...f64Load(),
        ...get(factor(row)),
        ...get(vectorPointer),
        ...f64Load(),
        op.f64Mul,
        op.f64Sub,
        ...f64Store(),
      ]),
    ),
  ];
  return {
    name: rowCount === 1 ? "reflectRow" : "reflectPair",
    parameters: [...rows.map(() => I), I, I, F],
    locals: [...rows.map(() => I), I, I, ...rows.map(() => F), ...rows.flatMap(() => [V, V]), V],
    body,
  };
}

/** accumulatePair(w, row₀, row₁, v₀, v₁, length): w ← (w + v₀·row₀) + v₁·row₁. */
const accumulatePair: FunctionSpec = (() => {
  const [w, row0, row1, v0, v1, length, remaining, s0, s1] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  return {
    name: "accumulatePair",
    parameters: [I, I, I, F, F, I],
    locals: [I, V, V],
    body: [
      ...toByteAddress(w),
      ...toByteAddress(row0),
      ...toByteAddress(row1),
      ...get(length),
      ...set(remaining),
      ...get(v0),
      ...splat,
      ...set(s0),
      ...get(v1),
      ...splat,
      ...set(s1),
      ...pairLoop(
        [w, row0, row1],
        remaining,
        [
          ...get(w),
          ...get(w),
          ...vectorLoad(),
          ...get(s0),
          ...get(row0),
          ...vectorLoad(),
          ...vectorMultiply,
          ...vectorAdd,
          ...get(s1),
          ...get(row1),
          ...vectorLoad(),
          ...vectorMultiply,
          ...vectorAdd,
          ...vectorStore(),
        ],
        [
          ...get(w),
          ...get(w),
          ...f64Load(),
          ...get(v0),
          ...get(row0),
          ...f64Load(),
          op.f64Mul,
          op.f64Add,
          ...get(v1),
          ...get(row1),
          ...f64Load(),
          op.f64Mul,
          op.f64Add,
          ...f64Store(),
        ],
      ),
    ],
  };
})();

/**
 * target ← target ∘ (scale·source), element-wise, for ∘ = + (accumulateRow: w ← w + v·row) or − (subtractScaled:
 * row ← row − factor·w). Parameters: target, source, scale (f64), length.
 */
function scaledUpdate(name: string, vectorOperation: number[], scalarOperation: number): FunctionSpec {
  const [target, source, scale, length, remaining, splatScale] = [0, 1, 2, 3, 4, 5];
  return {
    name,
    parameters: [I, I, F, I],
    locals: [I, V],
    body: [
      ...toByteAddress(target),
      ...toByteAddress(source),
      ...get(length),
      ...set(remaining),
      ...get(scale),
      ...splat,
      ...set(splatScale),
      ...pairLoop(
        [target, source],
        remaining,
        [
          ...get(target),
          ...get(target),
          ...vectorLoad(),
          ...get(splatScale),
          ...get(source),
          ...vectorLoad(),
          ...vectorMultiply,
          ...vectorOperation,
          ...vectorStore(),
        ],
        [
          ...get(target),
          ...get(target),
          ...f64Load(),
          ...get(scale),
          ...get(source),
          ...f64Load(),
          op.f64Mul,
          scalarOperation,
          ...f64Store(),
        ],
      ),
    ],
  };
}

/**
 * updateAndReflect(row, w, factor, right, τ, length): row ← row − factor·w, then row ← row − τ·(row·r)·r
 * (skipped when τ·(row·r) = 0).
 */
const updateAndReflect: FunctionSpec = (() => {
  const [row, w, factor, right, tau, length] = [0, 1, 2, 3, 4, 5];
  const [rowPointer, rightPointer, remaining] = [6, 7, 8];
  const [dot, scalarValue] = [9, 10];
  const [splatFactor, accumulator, value] = [11, 12, 13];
  return {
    name: "updateAndReflect",
    parameters: [I, I, F, I, F, I],
    locals: [I, I, I, F, F, V, V, V],
    body: [
      ...get(row),
      ...set(rowPointer),
      ...toByteAddress(rowPointer),
      ...toByteAddress(w),
      ...get(right),
      ...set(rightPointer),
      ...toByteAddress(rightPointer),
      ...get(length),
      ...set(remaining),
      ...get(factor),
      ...splat,
      ...set(splatFactor),
      ...f64(0),
      ...splat,
      ...set(accumulator),
      ...pairLoop(
        [rowPointer, w, rightPointer],
        remaining,
        [
          ...get(rowPointer),
          ...vectorLoad(),
          ...get(splatFactor),
          ...get(w),
          ...vectorLoad(),
          ...vectorMultiply,
          ...vectorSubtract,
          ...set(value),
          ...get(rowPointer),
          ...get(value),
          ...vectorStore(),
          ...get(accumulator),
          ...get(value),
          ...get(rightPointer),
          ...vectorLoad(),
          ...vectorMultiply,
          ...vectorAdd,
          ...set(accumulator),
        ],
        [
          ...get(rowPointer),
          ...f64Load(),
          ...get(factor),
          ...get(w),
          ...f64Load(),
          op.f64Mul,
          op.f64Sub,
          ...set(scalarValue),
          ...get(rowPointer),
          ...get(scalarValue),
          ...f64Store(),
          ...get(scalarValue),
          ...get(rightPointer),
          ...f64Load(),
          op.f64Mul,
          ...set(dot),
        ],
      ),
      // dot = lane sum + (tail product, or 0 when the length is even: the local starts at 0).
      ...laneSum(accumulator),
      ...get(dot),
      op.f64Add,
      ...get(tau),
      op.f64Mul,
      ...set(dot),
      ...ifThen(
        [...get(dot), ...f64(0), op.f64Ne],
        [
          ...get(row),
          ...set(rowPointer),
          ...toByteAddress(rowPointer),
          ...toByteAddress(right),
          ...get(length),
          ...set(remaining),
          ...get(dot),
          ...splat,
          ...set(splatFactor),
          ...pairLoop(
            [rowPointer, right],
            remaining,
            [
              ...get(rowPointer),
              ...get(rowPointer),
              ...vectorLoad(),
              ...get(splatFactor),
              ...get(right),
              ...vectorLoad(),
              ...vectorMultiply,
              ...vectorSubtract,
              ...vectorStore(),
            ],
            [
              ...get(rowPointer),
              ...get(rowPointer),
              ...f64Load(),
              ...get(dot),
              ...get(right),
              ...f64Load(),
              op.f64Mul,
              op.f64Sub,
              ...f64Store(),
            ],
          ),
        ],
      ),
    ],
  };
})();

/**
 * rotate(data, cols, chainCount, table): the queued QR-sweep rotations (see rotation-batch.ts) on the
 * rows × cols matrix at element index `data`. The chain table (i32 index `table`) holds per chain its first
 * row, its rotation count and the element index of its interleaved (cos, sin) pairs. Column groups of 12
 * (six vectors: the fastest of 2–16 columns measured in V8; 16 spill registers), then 4, then 2; an odd last
 * column is left to the caller. Per rotation t: [x; y] ← [c s; −s c]·[x; y] on rows
 * first + t and first + t + 1, with the running row x kept in registers.
 */
const rotate: FunctionSpec = (() => {
  const [data, cols, chainCount, table] = [0, 1, 2, 3];
  const [column, chainIndex, chainPointer, row, coefficient, step, length, rowBytes] = [
    4, 5, 6, 7, 8, 9, 10, 11,
  ];
  // v128 locals: up to six running rows x, six loaded rows y, the splat cosine and sine.
  const widest = 6;
  const [xBase, yBase, cosine, sine] = [12, 12 + widest, 12 + 2 * widest, 13 + 2 * widest];
  const columnGroups = (vectors: number): number[] => {
    const lanes = Array.from({ length: vectors }, (_, index) => index);
    const rotation = [
      ...get(coefficient),
      ...splatLoad(0),
      ...set(cosine),
      ...get(coefficient),
      ...splatLoad(8),
      ...set(sine),
      ...lanes.flatMap((index) => [
        ...get(row),
        ...get(rowBytes),
        op.i32Add,
        ...vectorLoad(16 * index),
        ...set(yBase + index),
      ]),
      // row t ← c·x + s·y
      ...lanes.flatMap((index) => [
        ...get(row),
        ...get(cosine),
        ...get(xBase + index),
        ...vectorMultiply,
        ...get(sine),
        ...get(yBase + index),
        ...vectorMultiply,
        ...vectorAdd,
        ...vectorStore(16 * index),
      ]),
      // running row x ← c·y − s·x
      ...lanes.flatMap((index) => [
        ...get(cosine),
        ...get(yBase + index),
        ...vectorMultiply,
        ...get(sine),
        ...get(xBase + index),
        ...vectorMultiply,
        ...vectorSubtract,
        ...set(xBase + index),
      ]),
      ...increment(row, get(rowBytes)),
      ...increment(coefficient, i32(16)),
      ...increment(step, i32(1)),
    ];
    const chain = [
      // row = (data + first·cols + column)·8
      ...get(data),
      ...get(chainPointer),
      ...i32Load(0),
      ...get(cols),
      op.i32Mul,
      op.i32Add,
      ...get(column),
      op.i32Add,
      ...set(row),
      ...toByteAddress(row),
      ...get(chainPointer),
      ...i32Load(4),
      ...set(length),
      ...get(chainPointer),
      ...i32Load(8),
      ...set(coefficient),
      ...toByteAddress(coefficient),
      ...lanes.flatMap((index) => [...get(row), ...vectorLoad(16 * index), ...set(xBase + index)]),
      ...i32(0),
      ...set(step),
      ...whileLoop([...get(step), ...get(length), op.i32GeU], rotation),
      ...lanes.flatMap((index) => [...get(row), ...get(xBase + index), ...vectorStore(16 * index)]),
      ...increment(chainPointer, i32(12)),
      ...increment(chainIndex, i32(1)),
    ];
    return whileLoop(
      [...get(column), ...i32(2 * vectors), op.i32Add, ...get(cols), op.i32GtS],
      [
        ...i32(0),
        ...set(chainIndex),
        ...get(table),
        ...i32(2),
        op.i32Shl,
        ...set(chainPointer),
        ...whileLoop([...get(chainIndex), ...get(chainCount), op.i32GeU], chain),
        ...increment(column, i32(2 * vectors)),
      ],
    );
  };
  return {
    name: "rotate",
    parameters: [I, I, I, I],
    locals: [I, I, I, I, I, I, I, I, ...Array.from({ length: 2 * widest + 2 }, () => V)],
    body: [
      ...get(cols),
      ...i32(3),
      op.i32Shl,
      ...set(rowBytes),
      ...i32(0),
      ...set(column),
      ...columnGroups(widest),
      ...columnGroups(2),
      ...columnGroups(1),
    ],
  };
})();

/** The kernels' module bytes. */
export function svdKernelModuleBytes(): Uint8Array<ArrayBuffer> {
  return assembleModule([
    reflectRows(2),
    reflectRows(1),
    accumulatePair,
    scaledUpdate("accumulateRow", vectorAdd, op.f64Add),
    scaledUpdate("subtractScaled", vectorSubtract, op.f64Sub),
    updateAndReflect,
    rotate,
  ]);
}
