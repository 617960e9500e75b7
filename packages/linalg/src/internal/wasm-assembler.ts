/**
 * A minimal WebAssembly binary writer for the SVD kernels (see svd-kernels-wasm.ts): just the opcodes those
 * kernels use, LEB128 encoding, and a module of exported functions over one imported memory. Writing the
 * bytes here keeps the package free of a build step and of native or wasm toolchain dependencies.
 */

/** Opcodes (WebAssembly core and the fixed-width SIMD proposal). */
export const op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  i32Load: 0x28,
  f64Load: 0x2b,
  f64Store: 0x39,
  i32Const: 0x41,
  f64Const: 0x44,
  i32LtS: 0x48,
  i32GtS: 0x4a,
  i32GeU: 0x4f,
  f64Ne: 0x62,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32Shl: 0x74,
  f64Add: 0xa0,
  f64Sub: 0xa1,
  f64Mul: 0xa2,
  simd: 0xfd,
  voidType: 0x40,
} as const;

/** Value types. */
export const type = { i32: 0x7f, f64: 0x7c, v128: 0x7b } as const;
export type ValueType = (typeof type)[keyof typeof type];

/** SIMD sub-opcodes (LEB128 after the 0xfd prefix). */
const simdOp = {
  v128Load: 0,
  load64Splat: 10,
  v128Store: 11,
  f64x2Splat: 20,
  f64x2ExtractLane: 33,
  f64x2Add: 240,
  f64x2Sub: 241,
  f64x2Mul: 242,
};

function unsignedLeb(value: number): number[] {
  const bytes: number[] = [];
  let rest = value >>> 0;
  do {
    let byte = rest & 0x7f;
    rest >>>= 7;
    if (rest !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest !== 0);
  return bytes;
}

function signedLeb(value: number): number[] {
  const bytes: number[] = [];
  let rest = value | 0;
  for (;;) {
    const byte = rest & 0x7f;
    rest >>= 7;
    const done = (rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

const simd = (operation: number) => [op.simd, ...unsignedLeb(operation)];
/** A memory access with the given alignment exponent and constant byte offset. */
const memoryAccess = (operation: number[], alignment: number, offset: number) => [
  ...operation,
  alignment,
  ...unsignedLeb(offset),
];

export const get = (local: number) => [op.localGet, ...unsignedLeb(local)];
export const set = (local: number) => [op.localSet, ...unsignedLeb(local)];
export const i32 = (value: number) => [op.i32Const, ...signedLeb(value)];
export const f64 = (value: number) => [op.f64Const, ...new Uint8Array(Float64Array.of(value).buffer)];
export const i32Load = (offset = 0) => memoryAccess([op.i32Load], 2, offset);
export const f64Load = (offset = 0) => memoryAccess([op.f64Load], 3, offset);
export const f64Store = (offset = 0) => memoryAccess([op.f64Store], 3, offset);
// Every f64 address is a multiple of 8, so vector accesses declare 8-byte alignment.
export const vectorLoad = (offset = 0) => memoryAccess(simd(simdOp.v128Load), 3, offset);
export const vectorStore = (offset = 0) => memoryAccess(simd(simdOp.v128Store), 3, offset);
export const splatLoad = (offset = 0) => memoryAccess(simd(simdOp.load64Splat), 3, offset);
export const splat = simd(simdOp.f64x2Splat);
export const lane = (index: number) => [...simd(simdOp.f64x2ExtractLane), index];
export const vectorAdd = simd(simdOp.f64x2Add);
export const vectorSubtract = simd(simdOp.f64x2Sub);
export const vectorMultiply = simd(simdOp.f64x2Mul);

/** local ← local + (value on the stack after `by`), i32. */
export const increment = (local: number, by: number[]) => [...get(local), ...by, op.i32Add, ...set(local)];
/** local ← local·8: an f64 element index to a byte address. */
export const toByteAddress = (local: number) => [...get(local), ...i32(3), op.i32Shl, ...set(local)];

/** `block loop (br_if 1 exit) body (br 0) end end`: while (!exit) body. */
export function whileLoop(exit: number[], body: number[]): number[] {
  return [
    op.block,
    op.voidType,
    op.loop,
    op.voidType,
    ...exit,
    op.brIf,
    1,
    ...body,
    op.br,
    0,
    op.end,
    op.end,
  ];
}

/** `if (condition) body`. */
export function ifThen(condition: number[], body: number[]): number[] {
  return [...condition, op.if, op.voidType, ...body, op.end];
}

/** One exported function: parameter types, extra locals (numbered after the parameters, in this order). */
export interface FunctionSpec {
  readonly name: string;
  readonly parameters: readonly ValueType[];
  readonly locals: readonly ValueType[];
  readonly body: readonly number[];
}

function section(id: number, contents: number[]): number[] {
  return [id, ...unsignedLeb(contents.length), ...contents];
}

function name(text: string): number[] {
  return [text.length, ...Array.from(text, (character) => character.charCodeAt(0))];
}

function vector(items: number[][]): number[] {
  return [...unsignedLeb(items.length), ...items.flat()];
}

/** Local declarations: runs of equal types as (count, type) pairs. */
function localGroups(locals: readonly ValueType[]): number[][] {
  const groups: number[][] = [];
  for (const localType of locals) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last[1] === localType) last[0] = (last[0] as number) + 1;
    else groups.push([1, localType]);
  }
  return groups.map(([count, localType]) => [...unsignedLeb(count as number), localType as number]);
}

/** A module importing `env.memory` and exporting `functions` (one type per function, no results). */
export function assembleModule(functions: readonly FunctionSpec[]): Uint8Array<ArrayBuffer> {
  const types = functions.map((spec) => [
    0x60,
    ...vector(spec.parameters.map((parameter) => [parameter])),
    0,
  ]);
  const bodies = functions.map((spec) => {
    const body = [...vector(localGroups(spec.locals)), ...spec.body, op.end];
    return [...unsignedLeb(body.length), ...body];
  });
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector(types)),
    ...section(2, vector([[...name("env"), ...name("memory"), 0x02, 0x00, 1]])),
    ...section(3, vector(functions.map((_, index) => unsignedLeb(index)))),
    ...section(7, vector(functions.map((spec, index) => [...name(spec.name), 0x00, ...unsignedLeb(index)]))),
    ...section(10, vector(bodies)),
  ];
  return new Uint8Array(bytes);
}
