import type { Command } from "./command.js";
import { demoCommand } from "./demo.js";
import { inspectCommand } from "./inspect.js";

/** Every sub-command of `peftjs`, by name. */
export const commands: Record<string, Command> = {
  demo: demoCommand,
  inspect: inspectCommand,
};
