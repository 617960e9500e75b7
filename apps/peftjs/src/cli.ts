import "./relaxed-simd.js";
import { parseArgs } from "node:util";
import { CliUsageError, describeFailure, exitCodes } from "./cli-error.js";
import type { Command } from "./commands/command.js";
import { commands } from "./commands/index.js";
import { checkFilePlan } from "./lib/file-plan.js";
import { configureHubAccess, hubFlagHelp, hubFlagOptions } from "./lib/model-location.js";
import { guardTerminalOutput, printable } from "./terminal.js";

const usage = `peftjs — parameter-efficient fine-tuning for TypeScript

Usage: peftjs <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, command]) => `  ${name.padEnd(10)} ${command.summary}`)
  .join("\n")}

Run "peftjs <command> --help" for a command's options. Exit codes: 0 ok, 1 user error, 2 internal error.`;

/** Whether a command reads `--model` or `--adapter` locations (which may be Hub ids), or says so itself. */
function readsHubIds(command: Command): boolean {
  if ("token" in command.options) return true;
  return Object.values(command.files?.flags ?? {}).some(
    (role) => role.kind === "model" || role.kind === "adapters",
  );
}

/** Runs the command line with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage);
    return exitCodes.ok;
  }
  if (name === "--version") {
    console.log("0.1.0");
    return exitCodes.ok;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  try {
    if (command === undefined)
      throw new CliUsageError(`unknown command "${name}"; known: ${Object.keys(commands).join(", ")}`);
    const hub = readsHubIds(command);
    if (rest.includes("--help") || rest.includes("-h")) {
      console.log(hub && !("token" in command.options) ? `${command.help}\n\n${hubFlagHelp}` : command.help);
      return exitCodes.ok;
    }
    const options: Command["options"] = hub ? { ...hubFlagOptions, ...command.options } : command.options;
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
    } catch (error) {
      throw new CliUsageError(`${(error as Error).message}. Run "peftjs ${name} --help".`);
    }
    const allowed = command.positionals ?? { min: 0, max: 0, name: "" };
    const count = parsed.positionals.length;
    if (count > allowed.max) {
      const extra = parsed.positionals.slice(allowed.max).map((value) => JSON.stringify(value));
      throw new CliUsageError(
        `unexpected argument${extra.length === 1 ? "" : "s"} ${extra.join(" ")}: ${
          allowed.max === 0 ? `${name} takes only flags` : `${name} takes ${allowed.max} ${allowed.name}`
        }. Run "peftjs ${name} --help".`,
      );
    }
    if (count < allowed.min)
      throw new CliUsageError(`${name} needs ${allowed.min} ${allowed.name}, got ${count}`);
    if (hub) configureHubAccess(parsed.values);
    // Every input and output is checked before any work starts.
    if (command.files !== undefined) await checkFilePlan(command.files, parsed.values, parsed.positionals);
    await command.run(parsed.values, parsed.positionals);
    return exitCodes.ok;
  } catch (error) {
    const failure = describeFailure(error);
    console.error(`peftjs ${printable(name)}: ${printable(failure.message)}`);
    return failure.code;
  }
}

guardTerminalOutput();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(printable(describeFailure(error).message));
    process.exitCode = exitCodes.internalError;
  },
);
