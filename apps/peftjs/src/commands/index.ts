import { chatCommand } from "./chat.js";
import { combineCommand } from "./combine.js";
import type { Command } from "./command.js";
import { convertCommand } from "./convert.js";
import { demoCommand } from "./demo.js";
import { embeddedCommand } from "./embedded.js";
import { exportCommand } from "./export.js";
import { generateCommand } from "./generate.js";
import { importCommand } from "./import.js";
import { initCommand } from "./init.js";
import { inspectCommand } from "./inspect.js";
import { logitsCommand } from "./logits.js";
import { mergeCommand } from "./merge.js";
import { tokenizeCommand } from "./tokenize.js";
import { trainCommand } from "./train.js";
import { verifyCommand } from "./verify.js";

/** Every sub-command of `peftjs`, by name. */
export const commands: Record<string, Command> = {
  demo: demoCommand,
  inspect: inspectCommand,
  init: initCommand,
  train: trainCommand,
  convert: convertCommand,
  merge: mergeCommand,
  combine: combineCommand,
  logits: logitsCommand,
  generate: generateCommand,
  chat: chatCommand,
  tokenize: tokenizeCommand,
  verify: verifyCommand,
  export: exportCommand,
  import: importCommand,
  embedded: embeddedCommand,
};
