/**
 * `@peftjs/nn`: the module layer between `@peftjs/tensor` and the models and adapters. A {@link Module} is a
 * tree of named sub-modules and parameters addressed by Hugging Face's dotted paths; {@link Linear},
 * {@link Embedding} and {@link RMSNorm} are the layers every decoder is built from.
 * @packageDocumentation
 */
export { type Activation, activationByName, geluTanh } from "./activations.js";
export { Embedding } from "./embedding.js";
export { ModuleNotFoundError, ModuleShapeError, UnsupportedActivationError } from "./errors.js";
export { Linear, type LinearLike, linear } from "./linear.js";
export { Module, ModuleList } from "./module.js";
export { RMSNorm, type RMSNormOptions } from "./rms-norm.js";
