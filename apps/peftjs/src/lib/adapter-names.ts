import { BASE_ADAPTER_NAME } from "@peftjs/adapters";
import { CliUsageError } from "../cli-error.js";
import type { AdapterSpec } from "./adapter-spec.js";

/**
 * Parses `--adapter-names c,a,b`: one adapter name per batch row (a mixed-adapter batch, PEFT's
 * `adapter_names`), `__base__` for a row without adapter. Every name must be one of the `--adapter` names.
 * Undefined when the flag is absent.
 *
 * @throws CliUsageError naming an empty entry, an unknown name (with the names there are), or the flag given
 *   without any `--adapter`.
 */
export function parseAdapterNames(
  value: string | undefined,
  adapters: readonly AdapterSpec[],
): string[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(",").map((name) => name.trim());
  const known = adapters.map((adapter) => adapter.name);
  if (adapters.length === 0) {
    throw new CliUsageError(
      `--adapter-names ${value} needs adapters: load them with --adapter NAME=DIR (one per name)`,
    );
  }
  for (const name of names) {
    if (name === "") throw new CliUsageError(`--adapter-names ${value} has an empty name`);
    if (name !== BASE_ADAPTER_NAME && !known.includes(name)) {
      throw new CliUsageError(
        `--adapter-names names "${name}", which no --adapter loads (loaded: ${known.join(", ")}; ${BASE_ADAPTER_NAME} = no adapter)`,
      );
    }
  }
  return names;
}
