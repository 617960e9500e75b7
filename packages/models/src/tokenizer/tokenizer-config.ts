import { TokenizerFormatError } from "../errors.js";

/** The token strings that have a role, as `tokenizer_config.json` (and `special_tokens_map.json`) name them. */
export interface SpecialTokenStrings {
  readonly bos: string | undefined;
  readonly eos: string | undefined;
  readonly unk: string | undefined;
  readonly pad: string | undefined;
  readonly sep: string | undefined;
  readonly cls: string | undefined;
  readonly mask: string | undefined;
}

/** A chat template: one Jinja string, or several by name (`default`, `tool_use`, ...). */
export type ChatTemplateSet = string | Readonly<Record<string, string>>;

/** What peftjs reads from `tokenizer_config.json`; every other field stays in {@link TokenizerConfig.raw}. */
export interface TokenizerConfig {
  /** The role tokens (`bos_token`, `eos_token`, ...), as strings. */
  readonly specialTokenStrings: SpecialTokenStrings;
  /**
   * `add_bos_token` / `add_eos_token` when the file states them, else undefined. transformers 5 rebuilds the
   * post-processor from them when either is stated (BOS? + text + EOS?), replacing tokenizer.json's.
   */
  readonly addBosToken: boolean | undefined;
  readonly addEosToken: boolean | undefined;
  /** `clean_up_tokenization_spaces` (transformers' default: false). */
  readonly cleanUpTokenizationSpaces: boolean;
  /** `chat_template`, when the file has one. */
  readonly chatTemplate: ChatTemplateSet | undefined;
  /** The parsed file as it is (an empty object when there was none). */
  readonly raw: Readonly<Record<string, unknown>>;
}

const roleFields = {
  bos: "bos_token",
  eos: "eos_token",
  unk: "unk_token",
  pad: "pad_token",
  sep: "sep_token",
  cls: "cls_token",
  mask: "mask_token",
} as const satisfies Record<keyof SpecialTokenStrings, string>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A role token is written as a string or as an AddedToken object (`{"content": "<s>", ...}`); null = none. */
function tokenString(value: unknown, field: string, description: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (isRecord(value) && typeof value.content === "string") return value.content;
  throw new TokenizerFormatError(
    `${description}: ${field} must be a string, an object with a "content" string, or null; got ${JSON.stringify(value)}`,
  );
}

function optionalBoolean(
  json: Record<string, unknown>,
  field: string,
  description: string,
): boolean | undefined {
  const value = json[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") {
    throw new TokenizerFormatError(
      `${description}: ${field} must be true or false, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * Reads `chat_template` as transformers does: a string, or a list of `{name, template}` (several named
 * templates).
 */
export function parseChatTemplateSet(value: unknown, description: string): ChatTemplateSet | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named: Record<string, string> = {};
    for (const entry of value) {
      if (!isRecord(entry) || typeof entry.name !== "string" || typeof entry.template !== "string") {
        throw new TokenizerFormatError(
          `${description}: chat_template entries must be {"name": string, "template": string}, got ${JSON.stringify(entry)}`,
        );
      }
      named[entry.name] = entry.template;
    }
    return named;
  }
  throw new TokenizerFormatError(
    `${description}: chat_template must be a string or a list of {name, template}, got ${typeof value}`,
  );
}

/**
 * Parses `tokenizer_config.json`, with `special_tokens_map.json` (older repositories) overriding its role
 * tokens as transformers does.
 *
 * @param description names the source in error messages (a path or a URL).
 * @throws TokenizerFormatError for a file that is not a JSON object or a field of the wrong type.
 */
export function parseTokenizerConfig(
  tokenizerConfig: unknown,
  specialTokensMap?: unknown,
  description = "tokenizer_config.json",
): TokenizerConfig {
  const json = tokenizerConfig ?? {};
  if (!isRecord(json)) throw new TokenizerFormatError(`${description} is not a JSON object`);
  if (specialTokensMap !== undefined && !isRecord(specialTokensMap)) {
    throw new TokenizerFormatError(`special_tokens_map.json of ${description} is not a JSON object`);
  }
  const roles = {} as Record<keyof SpecialTokenStrings, string | undefined>;
  for (const [role, field] of Object.entries(roleFields) as [keyof SpecialTokenStrings, string][]) {
    const overriding = specialTokensMap?.[field];
    roles[role] =
      overriding !== undefined
        ? tokenString(overriding, field, `special_tokens_map.json of ${description}`)
        : tokenString(json[field], field, description);
  }
  return {
    specialTokenStrings: Object.freeze(roles),
    addBosToken: optionalBoolean(json, "add_bos_token", description),
    addEosToken: optionalBoolean(json, "add_eos_token", description),
    cleanUpTokenizationSpaces: optionalBoolean(json, "clean_up_tokenization_spaces", description) ?? false,
    chatTemplate: parseChatTemplateSet(json.chat_template, description),
    raw: json,
  };
}
