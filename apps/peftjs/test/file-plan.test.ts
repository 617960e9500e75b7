import { describe, expect, it } from "vitest";
import { commands } from "../src/commands/index.js";

/**
 * Flags that name files or folders, in every command that has them. A command's file plan (`files`) is what
 * `checkFilePlan` checks before any work (inputs exist, outputs never alias inputs, nothing is overwritten),
 * so a path flag missing from it escapes every one of those checks.
 */
const pathFlags = new Set([
  "model",
  "tokenizer",
  "adapter",
  "initial",
  "trained",
  "data",
  "input",
  "file",
  "chat",
  "messages",
  "log",
  "out",
  "residual-out",
]);

describe("file plans", () => {
  it.each(Object.keys(commands))("%s declares every path flag it accepts", (name) => {
    const command = commands[name]!;
    // Only flags that take a value name a path (`generate --chat` is a switch; `tokenize --chat` a file).
    const accepted = Object.entries(command.options ?? {})
      .filter(([flag, option]) => option.type === "string" && pathFlags.has(flag))
      .map(([flag]) => flag);
    const declared = Object.keys(command.files?.flags ?? {});
    expect(accepted.filter((flag) => !declared.includes(flag))).toEqual([]);
  });
});
