import { SnapshotFormatError } from "./errors.js";
import { type Fingerprint, isFingerprint } from "./fingerprint.js";

/** What changed a weight: an explicit {@link WeightStore.mutate}, or a {@link WeightStore.restore}. */
export type JournalEntryKind = "mutate" | "restore";

/** One recorded change of one base weight. Entries are frozen and never removed from a journal. */
export interface JournalEntry {
  /** 1-based position in the journal of the store that recorded it (forks inherit their parent's entries). */
  readonly sequence: number;
  /** `"mutate"` for {@link WeightStore.mutate}, `"restore"` for a weight put back by {@link WeightStore.restore}. */
  readonly kind: JournalEntryKind;
  /** The tensor that changed. */
  readonly name: string;
  /** Its fingerprint before the change. */
  readonly fingerprintBefore: Fingerprint;
  /** Its fingerprint after the change. */
  readonly fingerprintAfter: Fingerprint;
  /** Why, in words, e.g. `"PiSSA residual W − s·B₀A₀ for adapter \"default\""`. */
  readonly reason: string;
  /** Who, e.g. `"@peftjs/adapters"` or a user name. */
  readonly by: string;
  /** When, as an ISO 8601 UTC timestamp. */
  readonly time: string;
}

const ENTRY_KEYS = [
  "sequence",
  "kind",
  "name",
  "fingerprintBefore",
  "fingerprintAfter",
  "reason",
  "by",
  "time",
];

/** Checks one parsed JSON value against {@link JournalEntry}; returns a frozen entry. */
function parseEntry(value: unknown, index: number): JournalEntry {
  const fail = (problem: string): never => {
    throw new SnapshotFormatError(`journal entry ${index}: ${problem}`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) return fail("is not an object");
  const record = value as Record<string, unknown>;
  for (const key of ENTRY_KEYS) if (!(key in record)) fail(`lacks "${key}"`);
  const { sequence, kind, name, fingerprintBefore, fingerprintAfter, reason, by, time } = record;
  if (!Number.isSafeInteger(sequence) || (sequence as number) < 1)
    fail(`sequence ${JSON.stringify(sequence)}`);
  if (kind !== "mutate" && kind !== "restore")
    fail(`kind ${JSON.stringify(kind)} is not "mutate" or "restore"`);
  if (typeof name !== "string") fail("name is not a string");
  if (!isFingerprint(fingerprintBefore)) fail(`fingerprintBefore ${JSON.stringify(fingerprintBefore)}`);
  if (!isFingerprint(fingerprintAfter)) fail(`fingerprintAfter ${JSON.stringify(fingerprintAfter)}`);
  if (typeof reason !== "string" || typeof by !== "string") fail("reason and by must be strings");
  if (typeof time !== "string" || Number.isNaN(Date.parse(time))) fail(`time ${JSON.stringify(time)}`);
  return Object.freeze({
    sequence: sequence as number,
    kind: kind as JournalEntryKind,
    name: name as string,
    fingerprintBefore: fingerprintBefore as Fingerprint,
    fingerprintAfter: fingerprintAfter as Fingerprint,
    reason: reason as string,
    by: by as string,
    time: time as string,
  });
}

/** Parses a journal written by {@link serializeJournal}; throws {@link SnapshotFormatError} when malformed. */
export function parseJournal(text: string): JournalEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SnapshotFormatError("the journal is not valid JSON", { cause: error });
  }
  if (!Array.isArray(value)) throw new SnapshotFormatError("the journal is not a JSON array");
  return value.map(parseEntry);
}

/** The journal as compact JSON (an array of {@link JournalEntry} objects). */
export function serializeJournal(journal: readonly JournalEntry[]): string {
  return JSON.stringify(journal);
}
