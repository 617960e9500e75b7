/** Terminal output helpers: colour only when allowed (NO_COLOR, non-TTY), progress bars only on a TTY. */

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
    process.stderr.write(`\r${this.label} ${bar} ${done}/${this.total} ${suffix}`.padEnd(80));
  }

  /** Clears the bar's line. */
  finish(): void {
    if (this.enabled) process.stderr.write(`\r${" ".repeat(80)}\r`);
  }
}
