import { GgufArchitectureError } from "../errors.js";
import type { RopeParameters } from "./model-config.js";

function numberField(rope: RopeParameters, field: string, fallback: number): number {
  const value = rope.fields[field] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new GgufArchitectureError(
      `config.json rope_parameters.${field} must be a positive number, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * The per-frequency divisors of Llama 3's RoPE (`rope_type: "llama3"`), the `rope_freqs.weight` tensor that
 * llama.cpp divides each base frequency θ^(−2i/d) by: wavelengths 2π/f shorter than
 * original_max_position_embeddings / high_freq_factor keep f (divisor 1), longer than
 * original_max_position_embeddings / low_freq_factor are divided by `factor`, and those in between are
 * interpolated, f' = (1 − s)·f/factor + s·f with s = (original / λ − low) / (high − low), i.e. divisor
 * 1 / ((1 − s)/factor + s). Same constants and defaults as transformers' `_compute_llama3_parameters`.
 */
export function llama3RopeFactors(rope: RopeParameters, dimension: number): Float32Array {
  const factor = numberField(rope, "factor", 8);
  const lowFrequencyFactor = numberField(rope, "low_freq_factor", 1);
  const highFrequencyFactor = numberField(rope, "high_freq_factor", 4);
  const originalContext = numberField(rope, "original_max_position_embeddings", 8192);
  const lowFrequencyWavelength = originalContext / lowFrequencyFactor;
  const highFrequencyWavelength = originalContext / highFrequencyFactor;
  const factors = new Float32Array(dimension / 2);
  for (let index = 0; index < factors.length; index++) {
    const frequency = 1 / rope.theta ** ((2 * index) / dimension);
    const wavelength = (2 * Math.PI) / frequency;
    if (wavelength < highFrequencyWavelength) factors[index] = 1;
    else if (wavelength > lowFrequencyWavelength) factors[index] = factor;
    else {
      const smooth =
        (originalContext / wavelength - lowFrequencyFactor) / (highFrequencyFactor - lowFrequencyFactor);
      factors[index] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return factors;
}
