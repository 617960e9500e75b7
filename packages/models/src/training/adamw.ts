import { add, div, keep, mul, scale, sqrt, sub, type Tensor, tidy, zeros } from "@peftjs/tensor";
import { ModelInputError } from "../errors.js";

const fround = Math.fround;

/** Hyper-parameters of {@link AdamW}; defaults are PyTorch's `torch.optim.AdamW`. */
export interface AdamWOptions {
  /** Learning rate. Default 1e-3. */
  learningRate?: number;
  /** Exponential decay rates of the first and second moment estimates. Default `[0.9, 0.999]`. */
  betas?: readonly [number, number];
  /** Added to `sqrt(v̂)` in the denominator (outside the square root, as PyTorch). Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay: `θ ← θ · (1 − lr · weightDecay)` before the Adam update. Default 1e-2. */
  weightDecay?: number;
}

interface MomentState {
  readonly firstMoment: Tensor;
  readonly secondMoment: Tensor;
}

/**
 * AdamW with PyTorch's exact semantics (`torch.optim.AdamW`, single-tensor path, `amsgrad=False`), applied
 * in float32 like PyTorch on float32 parameters. For every parameter, at step `t`:
 *
 * ```
 * θ ← θ · (1 − lr·λ)                          (decoupled weight decay)
 * m ← m + (1 − β₁)(g − m)                     (torch.lerp)
 * v ← β₂·v + (1 − β₂)·g²
 * θ ← θ − (lr / (1 − β₁ᵗ)) · m / (sqrt(v) / sqrt(1 − β₂ᵗ) + ε)
 * ```
 *
 * The scalar factors are computed in float64 and rounded to float32; every tensor operation is one float32
 * elementwise op of `@peftjs/tensor`, in PyTorch's order, so the step runs on the active backend and reads
 * nothing back. (PyTorch's vectorised `lerp` may fuse a multiply-add, so results can differ in the last bit.)
 *
 * Tensors are immutable, so {@link AdamW.step} returns the updated parameters as new tensors; the optimizer
 * keeps its moment estimates per parameter name, on the device, until {@link AdamW.dispose}.
 */
export class AdamW {
  /** Learning rate; may be changed between steps (e.g. by a scheduler). */
  learningRate: number;
  /** `[β₁, β₂]`. */
  readonly betas: readonly [number, number];
  /** ε. */
  readonly eps: number;
  /** λ. */
  readonly weightDecay: number;
  private readonly states = new Map<string, MomentState>();
  private steps = 0;

  constructor(options: AdamWOptions = {}) {
    this.learningRate = options.learningRate ?? 1e-3;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 1e-2;
    const [beta1, beta2] = this.betas;
    const checks: [string, number, boolean][] = [
      ["learningRate", this.learningRate, this.learningRate >= 0],
      ["eps", this.eps, this.eps >= 0],
      ["weightDecay", this.weightDecay, this.weightDecay >= 0],
      ["betas[0]", beta1, beta1 >= 0 && beta1 < 1],
      ["betas[1]", beta2, beta2 >= 0 && beta2 < 1],
    ];
    for (const [name, value, valid] of checks) {
      if (!valid) throw new ModelInputError(`AdamW ${name} is invalid: ${value}`);
    }
  }

  /** Number of steps taken (PyTorch's `state["step"]`; all parameters step together here). */
  get stepCount(): number {
    return this.steps;
  }

  /**
   * One optimisation step. Every parameter needs a gradient of the same shape under the same name.
   *
   * @returns the updated parameters (new tensors; the inputs are not disposed).
   * @throws ModelInputError for a missing gradient or a shape mismatch.
   */
  step(parameters: ReadonlyMap<string, Tensor>, gradients: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
    for (const [name, parameter] of parameters) {
      const gradient = gradients.get(name);
      if (gradient === undefined) throw new ModelInputError(`AdamW: no gradient for parameter "${name}"`);
      const sameShape =
        gradient.rank === parameter.rank &&
        gradient.shape.every((extent, axis) => extent === parameter.shape[axis]);
      if (!sameShape) {
        throw new ModelInputError(
          `AdamW: gradient of "${name}" has shape [${gradient.shape.join(", ")}], parameter [${parameter.shape.join(", ")}]`,
        );
      }
      const stateSize = this.states.get(name)?.firstMoment.size;
      if (stateSize !== undefined && stateSize !== parameter.size) {
        throw new ModelInputError(
          `AdamW: parameter "${name}" has ${parameter.size} elements but its optimizer state has ${stateSize}`,
        );
      }
    }
    this.steps++;
    const [beta1, beta2] = this.betas;
    // Scalars rounded to float32 once, as PyTorch holds them next to float32 tensors.
    const decay = fround(1 - this.learningRate * this.weightDecay);
    const lerpWeight = fround(1 - beta1);
    const oneMinusBeta2 = fround(1 - beta2);
    const beta2Float = fround(beta2);
    const stepSize = fround(-(this.learningRate / (1 - beta1 ** this.steps)));
    const rootDivisor = fround(Math.sqrt(1 - beta2 ** this.steps));
    const epsFloat = fround(this.eps);
    const updated = new Map<string, Tensor>();
    for (const [name, parameter] of parameters) {
      const gradient = gradients.get(name)!;
      const previous = this.states.get(name);
      const next = tidy(() => {
        const m = previous?.firstMoment ?? zeros(parameter.shape);
        const v = previous?.secondMoment ?? zeros(parameter.shape);
        // mul by a number, not scale: a diverging learning rate makes these factors ±∞, which must reach the
        // parameters (and be caught by train) as PyTorch's arithmetic would, not be refused as an argument
        const theta = this.weightDecay === 0 ? parameter : mul(parameter, decay);
        // torch.lerp(m, g, w) = m + w·(g − m) for |w| < 0.5, else g − (g − m)·(1 − w)
        const firstMoment =
          lerpWeight < 0.5
            ? add(m, scale(sub(gradient, m), lerpWeight))
            : sub(gradient, scale(sub(gradient, m), fround(1 - lerpWeight)));
        // exp_avg_sq.mul_(β₂).addcmul_(g, g, value=1 − β₂): v·β₂ + ((1 − β₂)·g)·g
        const secondMoment = add(scale(v, beta2Float), mul(scale(gradient, oneMinusBeta2), gradient));
        const denominator = add(div(sqrt(secondMoment), rootDivisor), epsFloat);
        // param.addcdiv_(m, denom, value=−stepSize): θ + (value·m) / denom
        const value = add(theta, div(mul(firstMoment, stepSize), denominator));
        return { firstMoment, secondMoment, value };
      });
      previous?.firstMoment.dispose();
      previous?.secondMoment.dispose();
      this.states.set(name, { firstMoment: keep(next.firstMoment), secondMoment: keep(next.secondMoment) });
      updated.set(name, next.value);
    }
    return updated;
  }

  /** Releases the moment estimates (the optimizer starts from zero moments afterwards). */
  dispose(): void {
    for (const state of this.states.values()) {
      state.firstMoment.dispose();
      state.secondMoment.dispose();
    }
    this.states.clear();
  }
}
