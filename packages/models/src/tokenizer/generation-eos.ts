import { TokenizerFormatError } from "../errors.js";

/**
 * The `eos_token_id` of a `generation_config.json` or `config.json`: an integer, a list of integers, or
 * nothing (undefined / null). transformers' `generate` stops at any of them.
 *
 * @param description names the file in error messages.
 * @throws TokenizerFormatError when the field is neither.
 */
export function eosTokenIdsOf(json: unknown, description: string): number[] | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  const value = (json as Record<string, unknown>).eos_token_id;
  if (value === undefined || value === null) return undefined;
  const ids = Array.isArray(value) ? value : [value];
  for (const id of ids) {
    if (!Number.isInteger(id) || (id as number) < 0) {
      throw new TokenizerFormatError(
        `${description}: eos_token_id must be a non-negative integer or a list of them, got ${JSON.stringify(value)}`,
      );
    }
  }
  return ids as number[];
}
