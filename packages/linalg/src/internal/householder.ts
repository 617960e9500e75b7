/**
 * Householder reflectors H = I − τ·v·vᵀ with v[0] = 1, generated exactly as LAPACK's dlarfg:
 * for x = [α; x₂], β = −sign(α)·‖x‖ (sign(0) = +), τ = (β − α)/β and v = [1; x₂/(α − β)], so that H·x = β·e₁.
 * When x₂ = 0 the reflector is the identity (τ = 0, β = α), which keeps LAPACK's (and torch's) signs.
 */
export interface Reflector {
  /** The essential part of v, with v[0] = 1 stored explicitly. */
  readonly vector: Float64Array;
  readonly tau: number;
  /** The value β the reflected vector becomes in its first position. */
  readonly beta: number;
}

/** Builds the reflector that maps `values` (a copy is taken) onto β·e₁. */
export function makeReflector(values: Float64Array): Reflector {
  const length = values.length;
  const alpha = values[0] as number;
  let scale = 0;
  for (let i = 1; i < length; i++) scale = Math.max(scale, Math.abs(values[i] as number));
  const vector = new Float64Array(length);
  vector[0] = 1;
  if (scale === 0) return { vector, tau: 0, beta: alpha };
  // ‖x₂‖ computed on scaled values so squares cannot under/overflow.
  let sumOfSquares = 0;
  for (let i = 1; i < length; i++) {
    const scaled = (values[i] as number) / scale;
    sumOfSquares += scaled * scaled;
  }
  const tailNorm = scale * Math.sqrt(sumOfSquares);
  const norm = Math.hypot(alpha, tailNorm);
  const beta = alpha >= 0 ? -norm : norm;
  const tau = (beta - alpha) / beta;
  const factor = 1 / (alpha - beta);
  for (let i = 1; i < length; i++) vector[i] = (values[i] as number) * factor;
  return { vector, tau, beta };
}

/**
 * Applies H from the left to the block rows [rowStart, rowStart + v.length) × columns [colStart, cols) of a
 * row-major matrix: w = vᵀ·A_block (accumulated row by row), then A_block −= τ·v·wᵀ.
 */
export function applyReflectorLeft(
  data: Float64Array,
  cols: number,
  reflector: Reflector,
  rowStart: number,
  colStart: number,
  work: Float64Array,
): void {
  const { vector, tau } = reflector;
  if (tau === 0 || colStart >= cols) return;
  const width = cols - colStart;
  work.fill(0, 0, width);
  for (let i = 0; i < vector.length; i++) {
    const vi = vector[i] as number;
    if (vi === 0) continue;
    const offset = (rowStart + i) * cols + colStart;
    for (let c = 0; c < width; c++) work[c] = (work[c] as number) + vi * (data[offset + c] as number);
  }
  for (let i = 0; i < vector.length; i++) {
    const factor = tau * (vector[i] as number);
    if (factor === 0) continue;
    const offset = (rowStart + i) * cols + colStart;
    for (let c = 0; c < width; c++)
      data[offset + c] = (data[offset + c] as number) - factor * (work[c] as number);
  }
}

/** Number of reflectors applied to one row while it sits in cache, in {@link applyReflectorsToRows}. */
const reflectorBlock = 8;

/**
 * Computes X ← X·H_{L−1}···H_0 restricted as in forming Qᵀ: reflector j acts on columns and rows from
 * j + shift on (rows above are unit vectors with zeros there). Reflectors are taken in blocks so each row of
 * X is loaded once per block, not once per reflector.
 */
export function applyReflectorsToRows(
  data: Float64Array,
  rows: number,
  cols: number,
  reflectors: readonly Reflector[],
  shift: number,
): void {
  for (let high = reflectors.length - 1; high >= 0; high -= reflectorBlock) {
    const low = Math.max(0, high - reflectorBlock + 1);
    // Rows are taken two at a time so each loaded element of v feeds both.
    for (let r = low + shift; r < rows; r += 2) {
      const paired = r + 1 < rows;
      for (let j = high; j >= low; j--) {
        const start = j + shift;
        const { vector, tau } = reflectors[j] as Reflector;
        if (tau === 0) continue;
        if (!paired || r < start) {
          if (r >= start) reflectRow(data, r * cols + start, vector, tau);
          else if (paired && r + 1 >= start) reflectRow(data, (r + 1) * cols + start, vector, tau);
          continue;
        }
        const first = r * cols + start;
        const second = first + cols;
        const length = vector.length;
        let dot0 = 0;
        let dot1 = 0;
        for (let c = 0; c < length; c++) {
          const value = vector[c] as number;
          dot0 += (data[first + c] as number) * value;
          dot1 += (data[second + c] as number) * value;
        }
        const factor0 = tau * dot0;
        const factor1 = tau * dot1;
        for (let c = 0; c < length; c++) {
          const value = vector[c] as number;
          data[first + c] = (data[first + c] as number) - factor0 * value;
          data[second + c] = (data[second + c] as number) - factor1 * value;
        }
      }
    }
  }
}

/** x ← x − τ·(x·v)·v for the row segment starting at `offset`. */
function reflectRow(data: Float64Array, offset: number, vector: Float64Array, tau: number): void {
  const length = vector.length;
  let dot = 0;
  for (let c = 0; c < length; c++) dot += (data[offset + c] as number) * (vector[c] as number);
  if (dot === 0) return;
  const factor = tau * dot;
  for (let c = 0; c < length; c++)
    data[offset + c] = (data[offset + c] as number) - factor * (vector[c] as number);
}
