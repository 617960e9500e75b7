/**
 * Terminal output: colour only when allowed (NO_COLOR, non-TTY), progress bars only on a TTY, and no control
 * characters from data. Files are hostile input: a tensor name or a metadata value may hold escape sequences
 * that clear the screen, or a newline that forges a line of the report. Two layers keep them out:
 * {@link printable} escapes every control character (newlines included) in a value before it is embedded in
 * a line, and {@link guardTerminalOutput} escapes whatever control characters still reach stdout/stderr,
 * keeping only newlines, tabs and the colour codes of {@link style}.
 */

const colourEnabled = (stream: NodeJS.WriteStream): boolean =>
  stream.isTTY === true && process.env.NO_COLOR === undefined && process.env.TERM !== "dumb";

function paint(code: number, text: string): string {
  return colourEnabled(process.stdout) ? `\u001b[${code}m${text}\u001b[0m` : text;
}

/** Styling functions that degrade to plain text when colour is off. */
export const style = {
  bold: (text: string) => paint(1, text),
  dim: (text: string) => paint(2, text),
  green: (text: string) => paint(32, text),
  yellow: (text: string) => paint(33, text),
  red: (text: string) => paint(31, text),
  cyan: (text: string) => paint(36, text),
};

/**
 * C0 and C1 control characters, DEL, the line and paragraph separators and the bidirectional overrides and
 * isolates (which reorder what a terminal shows).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const controlCharacters = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeCharacter(character: string): string {
  const code = character.charCodeAt(0);
  if (character === "\n") return "\\n";
  if (character === "\r") return "\\r";
  if (character === "\t") return "\\t";
  return `\\u${code.toString(16).padStart(4, "0")}`;
}

/** `text` with every control character written as an escape (`\n`, `\u001b`, ...): safe inside one line. */
export function printable(text: string): string {
  return text.replace(controlCharacters, escapeCharacter);
}

/**
 * What reaches the terminal: control characters escaped as `\uXXXX` (which also keeps JSON output valid
 * JSON), except newlines, tabs and SGR colour codes (`ESC [ digits m`).
 */
function guardText(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
    /\u001b\[[0-9;]*m|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (match) => (match.length > 1 ? match : `\\u${match.charCodeAt(0).toString(16).padStart(4, "0")}`),
  );
}

/** The unguarded stderr writer, for the progress bar's carriage returns (its text is all ours). */
const rawStderrWrite = process.stderr.write.bind(process.stderr);

/**
 * Installs the output guard on stdout and stderr, and makes a closed pipe (`peftjs … | head -1`) harmless:
 * further output is dropped and the command finishes as it would have, without an EPIPE stack trace.
 */
export function guardTerminalOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    let closed = false;
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE" || error.code === "ERR_STREAM_DESTROYED") {
        closed = true;
        return;
      }
      throw error;
    });
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (closed) return true;
      return write(typeof chunk === "string" ? guardText(chunk) : chunk, ...rest);
    }) as typeof stream.write;
  }
}

/** A progress bar on stderr that draws only when stderr is a terminal; otherwise it stays silent. */
export class ProgressBar {
  private readonly enabled = process.stderr.isTTY === true;
  private lastDrawn = -1;

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {}

  /** Draws the bar at `done` of `total`, with an optional suffix such as the current loss. */
  update(done: number, suffix = ""): void {
    if (!this.enabled) return;
    const width = 28;
    const filled = Math.round((done / Math.max(1, this.total)) * width);
    if (filled === this.lastDrawn && done < this.total && suffix === "") return;
    this.lastDrawn = filled;
    const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
    rawStderrWrite(`\r${this.label} ${bar} ${done}/${this.total} ${printable(suffix)}`.padEnd(80));
  }

  /** Clears the bar's line. */
  finish(): void {
    if (this.enabled) rawStderrWrite(`\r${" ".repeat(80)}\r`);
  }
}
