import { isPeftjsError, PeftjsError } from "@peftjs/io";

/** A mistake by the person running the command (bad flag, missing file): exit code 1, one line, no stack. */
export class CliUsageError extends PeftjsError {
  constructor(message: string) {
    super("cli_usage", message);
  }
}

/** Exit codes of every command: 0 ok, 1 user error, 2 internal error. */
export const exitCodes = { ok: 0, userError: 1, internalError: 2 } as const;

/**
 * Maps a thrown value to an exit code and a one-line message. Deliberate peftjs errors (bad input, wrong base,
 * broken file) are the user's to fix: exit 1. Anything else is a bug in peftjs: exit 2, with the stack only
 * when `PEFTJS_DEBUG` is set.
 */
export function describeFailure(error: unknown): { code: number; message: string } {
  if (isPeftjsError(error)) return { code: exitCodes.userError, message: `${error.name}: ${error.message}` };
  if (
    error instanceof Error &&
    "code" in error &&
    typeof error.code === "string" &&
    error.code.startsWith("E")
  ) {
    // Node system errors (ENOENT, EACCES, ...) caused by the user's paths.
    return { code: exitCodes.userError, message: error.message };
  }
  const text =
    error instanceof Error ? (process.env.PEFTJS_DEBUG ? error.stack : error.message) : String(error);
  return { code: exitCodes.internalError, message: `internal error: ${text}` };
}
