import { add, mul, scale, sigmoid, silu, type Tensor, tidy } from "@peftjs/tensor";
import { UnsupportedActivationError } from "./errors.js";

/** √(2/π), the slope inside the tanh approximation of GELU. */
const geluTanhSlope = Math.sqrt(2 / Math.PI);

/**
 * GELU with the tanh approximation (PyTorch's `gelu(x, approximate="tanh")`, transformers'
 * `gelu_pytorch_tanh`): `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, computed as the equal
 * `x·σ(2·√(2/π)·(x + 0.044715·x³))` (since `(1 + tanh z)/2 = σ(2z)`), from differentiable ops.
 */
export function geluTanh(input: Tensor): Tensor {
  return tidy(() => {
    const cubic = mul(mul(input, input), input);
    const inner = add(input, scale(cubic, 0.044715));
    return mul(input, sigmoid(scale(inner, 2 * geluTanhSlope)));
  });
}

/** An elementwise activation. */
export type Activation = (input: Tensor) => Tensor;

/** The activations by the names a Hugging Face `config.json` gives them (`hidden_act`). */
const activations: Readonly<Record<string, Activation>> = {
  silu,
  swish: silu,
  gelu_pytorch_tanh: geluTanh,
  gelu_new: geluTanh,
};

/**
 * The activation a config's `hidden_act` names: `"silu"` (alias `"swish"`) or `"gelu_pytorch_tanh"` (alias
 * `"gelu_new"`, the same tanh approximation).
 *
 * @throws UnsupportedActivationError naming the value and the supported names (e.g. for the exact, erf-based
 *   `"gelu"`).
 */
export function activationByName(name: string): Activation {
  const activation = Object.hasOwn(activations, name) ? activations[name] : undefined;
  if (activation === undefined) throw new UnsupportedActivationError(name, Object.keys(activations));
  return activation;
}
