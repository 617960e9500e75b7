import { PeftjsError } from "@peftjs/io";

/**
 * An option of a weighted combination is missing, out of range or does not apply to the chosen type (a
 * `density` outside (0, 1], a `density` for `cat`, a `seed` for a type that draws nothing, …). PEFT ignores
 * options that do not apply; peftjs refuses them so that nothing asked for is silently dropped.
 */
export class CombinationOptionError extends PeftjsError {
  /** The offending option (`type`, `density`, `majoritySignMethod`, `seed` or `svdRank`). */
  readonly option: string;
  constructor(option: string, message: string) {
    super("combination_option", message);
    this.option = option;
  }
}
