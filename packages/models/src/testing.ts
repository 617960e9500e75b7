/**
 * `@peftjs/models/testing`: small helpers for tests that need a model without fixture files — a tiny Llama
 * config and a seeded random checkpoint for it. Used by the tests of this package and of `@peftjs/adapters`,
 * and usable by anyone testing code on top of the models.
 */
export { randomCheckpoint, tinyLlamaConfig } from "./testing/tiny-llama.js";
