import { defaultInit } from "./default/index.js";
import { gaussianInit } from "./gaussian/index.js";
import { oloraInit } from "./olora/index.js";
import { pissaInit } from "./pissa/index.js";
import { randomInit } from "./random/index.js";
import type { InitMethod } from "./registry.js";

/** The built-in init methods, one folder each: a new one is a folder and an entry here. */
export const builtInInitMethods: readonly InitMethod[] = [
  defaultInit,
  gaussianInit,
  randomInit,
  pissaInit,
  oloraInit,
];
