import { setFlagsFromString } from "node:v8";

/**
 * Turns on WebAssembly relaxed SIMD in this process when the engine has it behind a flag (Node 20 and 21;
 * Node ≥ 22 and browsers ship it). The wasm backend then runs its GEMM on `f32x4.relaxed_madd` (fused
 * multiply-add where the CPU has it): about 20 % faster on one thread than plain SIMD mul + add. V8 flags are
 * process-wide, so only the command line does this for its own process; the libraries never do. Runs before
 * any WebAssembly is compiled (this module is the CLI's first import).
 */
function relaxedSimdValidates(): boolean {
  // (module (func (param v128 v128 v128) (result v128) local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd))
  const probe = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0,
    32, 1, 32, 2, 253, 133, 2, 11,
  ]);
  return WebAssembly.validate(probe);
}

if (!relaxedSimdValidates() && process.env.PEFTJS_NO_RELAXED_SIMD === undefined) {
  setFlagsFromString("--experimental-wasm-relaxed-simd");
}
