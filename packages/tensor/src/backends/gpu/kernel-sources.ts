/**
 * The gpu.js kernel sources of the gpu backend, as strings.
 *
 * Strings rather than functions: gpu.js parses a kernel's source text, and a bundler or transpiler may rewrite a
 * function's body (renaming, down-levelling) into something gpu.js cannot translate. Every kernel has a flat,
 * one-dimensional output (thread `x` is the row-major element index) so that gpu.js folds the output into a
 * near-square texture: a tensor's sides may exceed the texture size limit as long as its element count fits.
 *
 * All index arithmetic is done on exact integers held in float32, which is exact below 2^24. The only inexact
 * step is division, so every `floor(i / d)` is followed by a remainder check that corrects an off-by-one
 * quotient (see {@link decodeIndex}).
 */

/** The highest tensor rank the strided kernels handle after adjacent axes are merged. */
export const maxKernelRank = 6;

/** Loop bound that gpu.js writes into GLSL/WGSL loops (`for (i < LOOP_MAX) { if (!(i < n)) break; }`). */
export const loopMaxIterations = 1 << 24;

/**
 * Statements that split the float index `indexName` into coordinates `c0 .. c{n-1}` over the extents named by
 * `extentNames` (row-major, last axis fastest). With q = floor(i / d) possibly off by one after rounding, the
 * remainder r = i − q·d is exact (integers below 2^24), so one step of correction makes the pair exact.
 */
export function decodeIndex(
  indexName: string,
  extentNames: readonly string[],
  coordinatePrefix: string,
): string {
  const lines: string[] = [`let rest_${coordinatePrefix} = ${indexName};`];
  for (let axis = extentNames.length - 1; axis >= 1; axis--) {
    const extent = extentNames[axis]!;
    const quotient = `q_${coordinatePrefix}${axis}`;
    const coordinate = `${coordinatePrefix}${axis}`;
    lines.push(
      `let ${quotient} = Math.floor(rest_${coordinatePrefix} / ${extent});`,
      `let ${coordinate} = rest_${coordinatePrefix} - ${quotient} * ${extent};`,
      `if (${coordinate} < 0) { ${quotient} = ${quotient} - 1; ${coordinate} = ${coordinate} + ${extent}; }`,
      `if (${coordinate} >= ${extent}) { ${quotient} = ${quotient} + 1; ${coordinate} = ${coordinate} - ${extent}; }`,
      `rest_${coordinatePrefix} = ${quotient};`,
    );
  }
  lines.push(`let ${coordinatePrefix}0 = rest_${coordinatePrefix};`);
  return lines.join("\n");
}

function names(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, axis) => `${prefix}${axis}`);
}

/** Copies a typed array into a texture/buffer: `out[i] = values[i]`. */
export const uploadSource = `function(values) {
  return values[this.thread.x];
}`;

/**
 * Unary elementwise ops selected by `operation` (a uniform, so every thread takes the same branch):
 * 0 neg, 1 sqrt, 2 exp, 3 log, 4 silu, 5 sigmoid, 6 scale by p0, 7 clamp to [p0, p1] (p2 > 0.5: lower bound
 * active, p3 > 0.5: upper bound active), 8 isFinite (1/0), 9 truncate toward zero (float → int32 cast, NaN → 0),
 * 10 round to a narrower float format with p0 mantissa bits, smallest normal exponent p1 and largest finite
 * value p2 (bfloat16: 7, −126, 3.3895314e38; float16: 10, −14, 65504), to nearest, ties to even.
 *
 * The rounding uses float arithmetic only (shader languages have no portable bit casts): e = ⌊log2 |x|⌋
 * (corrected by one step, since log2 may be off by an ulp near powers of two), the quantum q = 2^(max(e, p1) − p0),
 * and |x|/q — exact, a power-of-two scaling, applied in two halves so that no factor overflows — rounded half to
 * even, times q. Results beyond the largest finite
 * value become infinite; NaN stays NaN. Float32 subnormals may be flushed to zero by the GPU.
 */
export const unarySource = `function(a, operation, p0, p1, p2, p3) {
  const x = a[this.thread.x];
  if (operation < 0.5) { return -x; }
  if (operation < 1.5) { return Math.sqrt(x); }
  if (operation < 2.5) { return Math.exp(x); }
  if (operation < 3.5) { return Math.log(x); }
  if (operation < 4.5) { return x * (1.0 / (1.0 + Math.exp(-x))); }
  if (operation < 5.5) { return 1.0 / (1.0 + Math.exp(-x)); }
  if (operation < 6.5) { return p0 * x; }
  if (operation < 7.5) {
    let clamped = x;
    if (p2 > 0.5 && clamped < p0) { clamped = p0; }
    if (p3 > 0.5 && clamped > p1) { clamped = p1; }
    return clamped;
  }
  if (operation < 8.5) {
    if (Math.abs(x) <= 3.4028234663852886e38) { return 1.0; }
    return 0.0;
  }
  if (operation < 9.5) {
    if (Math.abs(x) <= 3.4028234663852886e38) {
      if (x < 0.0) { return Math.ceil(x); }
      return Math.floor(x);
    }
    return 0.0;
  }
  const magnitude = Math.abs(x);
  if (!(magnitude <= 3.4028234663852886e38) || magnitude == 0.0) { return x; }
  let exponent = Math.floor(Math.log2(magnitude));
  if (Math.pow(2.0, exponent) > magnitude) { exponent = exponent - 1.0; }
  if (Math.pow(2.0, exponent + 1.0) <= magnitude) { exponent = exponent + 1.0; }
  if (exponent < p1) { exponent = p1; }
  // Scale by 2^(p0 − exponent) in two halves: 2^133 (the smallest bfloat16 normal) overflows a float32.
  const up = Math.floor((p0 - exponent) / 2.0);
  const scaled = magnitude * Math.pow(2.0, up) * Math.pow(2.0, p0 - exponent - up);
  let rounded = Math.floor(scaled);
  const fraction = scaled - rounded;
  if (fraction > 0.5 || (fraction == 0.5 && rounded - 2.0 * Math.floor(rounded / 2.0) > 0.5)) {
    rounded = rounded + 1.0;
  }
  let result = rounded * Math.pow(2.0, -up) * Math.pow(2.0, exponent - p0 + up);
  // Overflow: an infinite product at run time (WGSL rejects a constant infinity, GLSL has no literal for it).
  if (result > p2) { result = p2 * 3.4028234663852886e38; }
  if (x < 0.0) { return -result; }
  return result;
}`;

/** Unary op codes of {@link unarySource}. */
export const unaryOperations = {
  neg: 0,
  sqrt: 1,
  exp: 2,
  log: 3,
  silu: 4,
  sigmoid: 5,
  scale: 6,
  clamp: 7,
  isFinite: 8,
  truncate: 9,
  roundToNarrowFloat: 10,
} as const;

/**
 * Binary elementwise ops with broadcasting over up to {@link maxKernelRank} axes: extents `d0..d5`, strides of
 * `a` and `b` per output axis (`0` on a broadcast axis). Ops: 0 add, 1 sub, 2 mul, 3 div, 4 integer division
 * truncated toward zero, 5 `p·a + b` (axpy), 6 `exp(a − b)` (softmax numerator), 7 `silu(a)·b` (SwiGLU).
 */
export const binarySource = `function(a, b, operation, p, ${names("d", maxKernelRank).join(", ")}, ${names("sa", maxKernelRank).join(", ")}, ${names("sb", maxKernelRank).join(", ")}) {
  const index = this.thread.x + 0.0;
  ${decodeIndex("index", names("d", maxKernelRank), "c")}
  const x = a[${names("c", maxKernelRank)
    .map((coordinate, axis) => `${coordinate} * sa${axis}`)
    .join(" + ")}];
  const y = b[${names("c", maxKernelRank)
    .map((coordinate, axis) => `${coordinate} * sb${axis}`)
    .join(" + ")}];
  if (operation < 0.5) { return x + y; }
  if (operation < 1.5) { return x - y; }
  if (operation < 2.5) { return x * y; }
  if (operation < 3.5) { return x / y; }
  if (operation < 4.5) {
    let quotient = x / y;
    if (quotient < 0.0) { quotient = Math.ceil(quotient); } else { quotient = Math.floor(quotient); }
    const remainder = x - quotient * y;
    if (Math.abs(remainder) >= Math.abs(y)) {
      if ((remainder < 0.0) == (y < 0.0)) { quotient = quotient + 1.0; } else { quotient = quotient - 1.0; }
    } else if (remainder != 0.0 && (remainder < 0.0) != (x < 0.0)) {
      if ((x < 0.0) == (y < 0.0)) { quotient = quotient - 1.0; } else { quotient = quotient + 1.0; }
    }
    return quotient;
  }
  if (operation < 5.5) { return p * x + y; }
  if (operation < 6.5) { return Math.exp(x - y); }
  return x * (1.0 / (1.0 + Math.exp(-x))) * y;
}`;

/** Binary op codes of {@link binarySource}. */
export const binaryOperations = {
  add: 0,
  sub: 1,
  mul: 2,
  div: 3,
  intDiv: 4,
  axpy: 5,
  expDifference: 6,
  swiGlu: 7,
} as const;

/**
 * A strided copy: output coordinates `c0..c5` over extents `d0..d5` read `a[offset + Σ c_i · s_i]`.
 * Transpose (permuted strides) and slice (offset, original strides) are both this kernel.
 */
export const stridedSource = `function(a, offset, ${names("d", maxKernelRank).join(", ")}, ${names("s", maxKernelRank).join(", ")}) {
  const index = this.thread.x + 0.0;
  ${decodeIndex("index", names("d", maxKernelRank), "c")}
  return a[offset + ${names("c", maxKernelRank)
    .map((coordinate, axis) => `${coordinate} * s${axis}`)
    .join(" + ")}];
}`;

/** Concatenation of `[outer, left]` and `[outer, right]` along the last axis. */
export const concatSource = `function(a, b, left, right) {
  const index = this.thread.x + 0.0;
  const width = left + right;
  ${decodeIndex("index", ["outer", "width"], "c")}
  if (c1 < left) { return a[c0 * left + c1]; }
  return b[c0 * right + c1 - left];
}`;

/**
 * Reduction over the middle axis of `[outer, reduced, inner]`: 0 sum (Kahan-compensated, for accuracy close to
 * the float64 reference), 1 sum of squares (Kahan), 2 max (NaN propagates), 3 argmax (first maximum; a NaN wins).
 */
export const reduceSource = `function(a, operation, reduced, inner) {
  const index = this.thread.x + 0.0;
  ${decodeIndex("index", ["outer", "inner"], "c")}
  const base = c0 * reduced * inner + c1;
  if (operation < 1.5) {
    let sum = 0.0;
    let compensation = 0.0;
    for (let step = 0; step < reduced; step++) {
      let value = a[base + step * inner];
      if (operation > 0.5) { value = value * value; }
      const corrected = value - compensation;
      const next = sum + corrected;
      compensation = (next - sum) - corrected;
      sum = next;
    }
    return sum;
  }
  let best = a[base];
  let bestStep = 0.0;
  for (let step = 0; step < reduced; step++) {
    const value = a[base + step * inner];
    if (!(value <= best) && !(best != best)) {
      best = value;
      bestStep = step;
    }
  }
  if (operation < 2.5) { return best; }
  return bestStep;
}`;

/** Reduction op codes of {@link reduceSource}. */
export const reduceOperations = {
  sum: 0,
  sumOfSquares: 1,
  max: 2,
  argmax: 3,
} as const;

/**
 * Hugging Face LlamaRMSNorm's second half: `weight[c] · (x[r, c] · rsqrt(sumOfSquares[r] / columns + epsilon))`.
 */
export const rmsNormSource = `function(x, sumOfSquares, weight, columns, epsilon) {
  const index = this.thread.x + 0.0;
  ${decodeIndex("index", ["rows", "columns"], "c")}
  const variance = sumOfSquares[c0] / columns;
  const inverseRoot = 1.0 / Math.sqrt(variance + epsilon);
  return weight[c1] * (x[index] * inverseRoot);
}`;

/** Rows of `table` (`[rows, columns]`) picked by `indices` (integers stored as floats). */
export const gatherSource = `function(table, indices, columns) {
  const index = this.thread.x + 0.0;
  ${decodeIndex("index", ["count", "columns"], "c")}
  return table[indices[c0] * columns + c1];
}`;

/**
 * Rotary embedding, rotate-half convention: `x·cos + rotateHalf(x)·sin` with `rotateHalf([x1, x2]) = [−x2, x1]`;
 * `x` is `[outer, sequence, headDim]`, `cos` and `sin` are `[sequence, headDim]`.
 */
export const rotarySource = `function(x, cos, sin, sequence, headDim) {
  const index = this.thread.x + 0.0;
  ${decodeIndex("index", ["outer", "sequence", "headDim"], "c")}
  const half = headDim / 2.0;
  const row = index - c2;
  let rotated = 0.0;
  if (c2 < half) { rotated = -x[row + c2 + half]; } else { rotated = x[row + c2 - half]; }
  const table = c1 * headDim + c2;
  return x[index] * cos[table] + rotated * sin[table];
}`;

/**
 * Batched matrix product on `[batch, m, n]` outputs. Element `(i, p)` of batch `z` of A sits at
 * `z·batchA + i·rowA + p·depthA` (the strides encode `transposeA` and batch broadcasting), likewise `(p, j)` of B
 * at `z·batchB + p·depthB + j·columnB`. Thread `x` computes output element `offset + x`: a product too large for
 * one dispatch is computed as consecutive tiles of the flat output (see `matmulKernel` in `gpu-kernels.ts`).
 */
export const matmulSource = `function(a, b, m, n, depth, offset, batchA, rowA, depthA, batchB, depthB, columnB) {
  const index = this.thread.x + offset;
  ${decodeIndex("index", ["batch", "m", "n"], "c")}
  const baseA = c0 * batchA + c1 * rowA;
  const baseB = c0 * batchB + c2 * columnB;
  let sum = 0.0;
  for (let p = 0; p < depth; p++) {
    sum += a[baseA + p * depthA] * b[baseB + p * depthB];
  }
  return sum;
}`;

/** Sum of squares of consecutive blocks: `out[i] = Σ a[j]²` for `j` in `[i·block, min((i+1)·block, size))` (Kahan). */
export const blockSumOfSquaresSource = `function(a, size, block) {
  const start = (this.thread.x + 0.0) * block;
  let sum = 0.0;
  let compensation = 0.0;
  for (let step = 0; step < block; step++) {
    if (start + step < size) {
      const value = a[start + step];
      const corrected = value * value - compensation;
      const next = sum + corrected;
      compensation = (next - sum) - corrected;
      sum = next;
    }
  }
  return sum;
}`;

/**
 * Per-row cross-entropy from the row maxima and Σ exp(x − max) (computed by `reduce` and `binary` beforehand):
 * `log(sum) − (x_label − max)`; 0 for the ignore index; NaN (`zero / zero`, a run-time 0/0: shader languages
 * reject a constant one) for a label outside `[0, classes)`.
 */
export const crossEntropyRowsSource = `function(logits, labels, maximum, sums, classes, ignoreIndex, zero) {
  const row = this.thread.x;
  const label = labels[row];
  if (label == ignoreIndex) { return 0.0; }
  if (label < 0.0 || label >= classes) { return zero / zero; }
  return Math.log(sums[row]) - (logits[row * classes + label] - maximum[row]);
}`;

/** The fused cross-entropy gradient: `scale · (softmax − onehot(label))` per element; 0 on ignored rows, NaN on invalid labels. */
export const crossEntropyGradientSource = `function(logits, labels, maximum, sums, scale, classes, ignoreIndex, zero) {
  const index = this.thread.x + 0.0;
  ${decodeIndex("index", ["rows", "classes"], "c")}
  const label = labels[c0];
  if (label == ignoreIndex) { return 0.0; }
  if (label < 0.0 || label >= classes) { return zero / zero; }
  let probability = Math.exp(logits[index] - maximum[c0]) / sums[c0];
  if (c1 == label) { probability = probability - 1.0; }
  return scale[0] * probability;
}`;

/**
 * Scaled, masked attention scores: `scale·x + mask[row mod maskRows]` (the mask only when `hasMask` > 0.5), and
 * −∞ (a run-time overflow of `−big·2`: shader languages reject a constant infinity) where the causal mask
 * excludes the element (`queries` > 0.5 and column > row mod queries + columns − queries).
 */
export const maskedScoresSource = `function(x, mask, scale, hasMask, queries, maskRows, columns, big) {
  const index = this.thread.x + 0.0;
  ${decodeIndex("index", ["rows", "columns"], "c")}
  let value = scale * x[index];
  if (hasMask > 0.5) {
    const maskRow = c0 - Math.floor(c0 / maskRows) * maskRows;
    value = value + mask[maskRow * columns + c1];
  }
  if (queries > 0.5) {
    const query = c0 - Math.floor(c0 / queries) * queries;
    if (c1 > query + columns - queries) { value = -big * 2.0; }
  }
  return value;
}`;

/** The fused softmax gradient from the row sums `dot = Σ dy ⊙ y`: `scale · y ⊙ (dy − dot[row])`. */
export const softmaxGradientSource = `function(y, dy, dot, columns, scale) {
  const index = this.thread.x + 0.0;
  ${decodeIndex("index", ["rows", "columns"], "c")}
  return scale * (y[index] * (dy[index] - dot[c0]));
}`;

/** The SwiGLU gradient: `dy·up·σ(g)(1 + g(1 − σ(g)))` (input < 0.5, the gate) or `dy·g·σ(g)` (up). */
export const swiGluGradientSource = `function(gate, up, dy, input) {
  const g = gate[this.thread.x];
  const sigmoid = 1.0 / (1.0 + Math.exp(-g));
  if (input < 0.5) { return dy[this.thread.x] * up[this.thread.x] * sigmoid * (1.0 + g * (1.0 - sigmoid)); }
  return dy[this.thread.x] * g * sigmoid;
}`;

/**
 * The RMS-norm gradient with respect to x from the row sums Σx² and Σ dy·w·x:
 * `r·(dy·w − x·r²·dot/columns)` with `r = 1/√(Σx²/columns + epsilon)`.
 */
export const rmsNormGradientSource = `function(x, weight, dy, sumOfSquares, dot, columns, epsilon) {
  const index = this.thread.x + 0.0;
  ${decodeIndex("index", ["rows", "columns"], "c")}
  const reciprocal = 1.0 / Math.sqrt(sumOfSquares[c0] / columns + epsilon);
  return reciprocal * (dy[index] * weight[c1] - x[index] * reciprocal * reciprocal * (dot[c0] / columns));
}`;

/** Every kernel of the gpu backend, by name. */
export const kernelSources = {
  upload: uploadSource,
  unary: unarySource,
  binary: binarySource,
  strided: stridedSource,
  concat: concatSource,
  reduce: reduceSource,
  rmsNorm: rmsNormSource,
  gather: gatherSource,
  rotary: rotarySource,
  matmul: matmulSource,
  blockSumOfSquares: blockSumOfSquaresSource,
  crossEntropyRows: crossEntropyRowsSource,
  crossEntropyGradient: crossEntropyGradientSource,
  maskedScores: maskedScoresSource,
  softmaxGradient: softmaxGradientSource,
  swiGluGradient: swiGluGradientSource,
  rmsNormGradient: rmsNormGradientSource,
} as const;

/** Name of one of the backend's gpu.js kernels. */
export type GpuKernelId = keyof typeof kernelSources;
