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
