import { CliUsageError } from "../cli-error.js";
import type { FlagValues } from "../commands/command.js";
import { parseAdapterSpec } from "./adapter-spec.js";

/** The value of a string flag that must be given. */
export function requiredString(values: FlagValues, flag: string): string {
  const value = values[flag];
  if (typeof value !== "string" || value === "") throw new CliUsageError(`--${flag} is required`);
  return value;
}

/** The value of an optional string flag. */
export function optionalString(values: FlagValues, flag: string): string | undefined {
  const value = values[flag];
  return typeof value === "string" ? value : undefined;
}

/** The values of a string flag that may be repeated (`--adapter a --adapter b`). */
export function stringList(values: FlagValues, flag: string): string[] {
  const value = values[flag];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter(
    (entry): entry is string => typeof entry === "string",
  );
}

/** Parses a finite number flag; `undefined` when absent. */
export function optionalNumber(
  values: FlagValues,
  flag: string,
  options: { min?: number } = {},
): number | undefined {
  const text = optionalString(values, flag);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value))
    throw new CliUsageError(`--${flag} ${text} is not a number`);
  if (options.min !== undefined && value < options.min) {
    throw new CliUsageError(`--${flag} ${text} must be at least ${options.min}`);
  }
  return value;
}

/** Parses an integer flag; `undefined` when absent. */
export function optionalInteger(
  values: FlagValues,
  flag: string,
  options: { min?: number } = {},
): number | undefined {
  const value = optionalNumber(values, flag, options);
  if (value !== undefined && !Number.isInteger(value)) {
    throw new CliUsageError(`--${flag} ${String(values[flag])} is not an integer`);
  }
  return value;
}

/** Parses an integer flag that must be given. */
export function requiredInteger(values: FlagValues, flag: string, options: { min?: number } = {}): number {
  requiredString(values, flag);
  return optionalInteger(values, flag, options) as number;
}

/** Parses a number flag that must be given. */
export function requiredNumber(values: FlagValues, flag: string, options: { min?: number } = {}): number {
  requiredString(values, flag);
  return optionalNumber(values, flag, options) as number;
}

/**
 * Splits `[NAME=]DIR[:WEIGHT]` into the folder and its weight (the weight only when the part after the last
 * `:` is a number); a bare folder gets `defaultWeight`, or is refused when that is undefined.
 */
export function pathWithWeight(
  spec: string,
  defaultWeight: number | undefined,
): { path: string; weight: number } {
  const parsed = parseAdapterSpec(spec);
  const weight = parsed.weight ?? defaultWeight;
  if (weight === undefined) {
    throw new CliUsageError(`--adapter ${spec} needs a weight: write it as DIR:WEIGHT, e.g. ${spec}:0.5`);
  }
  return { path: parsed.path, weight };
}

/** The compute backends a command accepts with `--backend`. */
export type BackendChoice = "auto" | "js" | "wasm" | "gpu";
const backendChoices: readonly BackendChoice[] = ["auto", "js", "wasm", "gpu"];

/** Parses `--backend` (default `auto`); an unknown name is a user error that lists the choices. */
export function parseBackendChoice(value: unknown): BackendChoice {
  const choice = (value ?? "auto") as BackendChoice;
  if (!backendChoices.includes(choice)) {
    throw new CliUsageError(`--backend ${String(value)} is not one of ${backendChoices.join(", ")}`);
  }
  return choice;
}
