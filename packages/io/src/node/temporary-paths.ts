/**
 * Temporary files and folders that this process is writing, removed when a terminating signal (SIGINT,
 * SIGTERM, SIGHUP) arrives in the middle of a write: an interrupted write would otherwise leave a hidden,
 * possibly huge, partial file behind. Listeners are installed only while something is being written, so a
 * signal at any other time keeps its default effect at once.
 *
 * When this module's listener is the only one, it removes the temporaries and then re-raises the signal, so
 * the process still ends the way it would have (killed by that signal). When the application listens too, it
 * has taken over the signal: nothing is removed behind its back (it may be waiting for the write to finish);
 * it can call {@link removeTemporaryPaths} itself.
 */
import { rmSync } from "node:fs";

const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const active = new Set<string>();

function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) !== 1) return;
  removeTemporaryPaths();
  uninstall();
  process.kill(process.pid, signal);
}

function install(): void {
  for (const signal of signals) process.on(signal, onSignal);
}

function uninstall(): void {
  for (const signal of signals) process.removeListener(signal, onSignal);
}

/**
 * Registers a temporary file or folder being written; returns the function that unregisters it (call it once
 * the path was renamed into place or removed).
 */
export function trackTemporaryPath(path: string): () => void {
  active.add(path);
  if (active.size === 1) install();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    active.delete(path);
    if (active.size === 0) uninstall();
  };
}

/** Removes every registered temporary path now (synchronously, so it works inside a signal or exit handler). */
export function removeTemporaryPaths(): void {
  for (const path of active) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Best effort: the process is going away; a leftover is swept by the next write of the same target.
    }
  }
  active.clear();
  uninstall();
}

/** The paths registered now (for tests and diagnostics). */
export function temporaryPaths(): string[] {
  return [...active];
}
