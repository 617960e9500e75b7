import { InvalidAdapterRecordError } from "./errors.js";
import { type Fingerprint, isFingerprint } from "./fingerprint.js";

/**
 * PEFT's `init_lora_weights`: `true` (kaiming-uniform A, zero B), `false`, `"gaussian"`, `"pissa"`,
 * `"pissa_niter_K"`, `"olora"`, or another method name PEFT knows (`"corda"`, `"loftq"`, `"eva"`, …).
 */
export type InitMethod = boolean | "gaussian" | "pissa" | `pissa_niter_${number}` | "olora" | (string & {});

/** The kinds of adapter this version describes. */
export type AdapterKind = "lora";

/** The library (and its version) that wrote an adapter file. */
export interface AdapterProducer {
  /** e.g. `"peftjs"` or `"peft"`. */
  name: string;
  /** e.g. `"0.1.0"` or `"0.21.0"`. */
  version: string;
}

/**
 * What an adapter needs from the base it is loaded on. Written into the adapter safetensors file's
 * `__metadata__` under `peftjs.*` keys ({@link adapterRecordToMetadata}), derived from `adapter_config.json`
 * for adapters written by PEFT ({@link deriveAdapterRecord}), and checked on every load by
 * `checkCompatibility`.
 */
export interface AdapterRecord {
  /** The adapter's name, e.g. `"default"`. */
  name: string;
  /** Always `"lora"` in this version (PiSSA and OLoRA are LoRA with another init). */
  kind: AdapterKind;
  /** PEFT's `init_lora_weights` as the adapter's config says it. */
  initMethod: InitMethod;
  /**
   * True when the adapter's weights only give the right model on a mutated base: PiSSA/OLoRA (and other
   * base-rewriting inits) trained in residual mode and not converted, which expect W − s·B₀A₀ instead of W.
   */
  needsMutatedBase: boolean;
  /** Model fingerprint of the original base the adapter belongs to, or `null` when unknown (PEFT files). */
  baseFingerprint: Fingerprint | null;
  /** Model fingerprint of the residual base it expects (PiSSA/OLoRA residual mode), or `null`. */
  residualBaseFingerprint: Fingerprint | null;
  /** The init method of the adapter this one was converted from (e.g. `"pissa"` → plain LoRA), or `null`. */
  convertedFrom: InitMethod | null;
  /** Who wrote the adapter, or `null` when unknown. */
  producer: AdapterProducer | null;
}

/** The `__metadata__` keys of an {@link AdapterRecord} (all values are strings, as safetensors requires). */
export const ADAPTER_METADATA_KEYS = {
  version: "peftjs.record_version",
  name: "peftjs.adapter_name",
  kind: "peftjs.kind",
  initMethod: "peftjs.init_method",
  needsMutatedBase: "peftjs.needs_mutated_base",
  baseFingerprint: "peftjs.base_fingerprint",
  residualBaseFingerprint: "peftjs.residual_base_fingerprint",
  convertedFrom: "peftjs.converted_from",
  producerName: "peftjs.producer",
  producerVersion: "peftjs.producer_version",
} as const;

/** The record layout version written to {@link ADAPTER_METADATA_KEYS}.version. */
export const ADAPTER_RECORD_VERSION = "1";

/** Inits that leave the base alone; every other named init rewrites it in PEFT (see below). */
const BASE_PRESERVING_INITS = new Set(["gaussian", "eva", "orthogonal"]);

/**
 * Whether PEFT rewrites the base weight when it initialises (or reloads an unconverted adapter of) this
 * method: `"pissa"`, `"pissa_niter_K"`, `"olora"`, `"corda"` (base := residual W − s·B₀A₀) and `"loftq"` (base :=
 * quantized weight) do; `true`, `false`, `"gaussian"`, `"eva"`, `"orthogonal"` do not. An init method this
 * version does not know is assumed to rewrite it: refusing an adapter is recoverable, silent garbage is not.
 */
export function initMethodMutatesBase(initMethod: InitMethod): boolean {
  if (typeof initMethod === "boolean") return false;
  return !BASE_PRESERVING_INITS.has(initMethod);
}

function isInitMethod(value: unknown): value is InitMethod {
  return typeof value === "boolean" || (typeof value === "string" && value.length > 0);
}

/**
 * Checks that `value` is an {@link AdapterRecord}; returns a normalised copy or throws
 * {@link InvalidAdapterRecordError} listing every problem.
 */
export function validateAdapterRecord(value: unknown): AdapterRecord {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidAdapterRecordError(["the record is not an object"]);
  }
  const record = value as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof record.name !== "string" || record.name === "")
    problems.push(`name ${JSON.stringify(record.name)} is not a non-empty string`);
  if (record.kind !== "lora") problems.push(`kind ${JSON.stringify(record.kind)} is not "lora"`);
  if (!isInitMethod(record.initMethod))
    problems.push(`initMethod ${JSON.stringify(record.initMethod)} is not a boolean or a method name`);
  if (typeof record.needsMutatedBase !== "boolean")
    problems.push(`needsMutatedBase ${JSON.stringify(record.needsMutatedBase)} is not a boolean`);
  for (const key of ["baseFingerprint", "residualBaseFingerprint"] as const) {
    if (record[key] !== null && !isFingerprint(record[key]))
      problems.push(`${key} ${JSON.stringify(record[key])} is not null or "fp1:<32 hex digits>"`);
  }
  if (record.convertedFrom !== null && !isInitMethod(record.convertedFrom))
    problems.push(`convertedFrom ${JSON.stringify(record.convertedFrom)} is not null or a method name`);
  const producer = record.producer as Record<string, unknown> | null | undefined;
  if (
    producer !== null &&
    (typeof producer !== "object" ||
      producer === undefined ||
      typeof producer.name !== "string" ||
      typeof producer.version !== "string")
  ) {
    problems.push(`producer ${JSON.stringify(producer)} is not null or { name, version } strings`);
  }
  if (record.residualBaseFingerprint !== null && record.needsMutatedBase === false) {
    problems.push("residualBaseFingerprint is set but needsMutatedBase is false");
  }
  if (
    record.convertedFrom !== null &&
    record.convertedFrom !== undefined &&
    record.needsMutatedBase === true
  ) {
    problems.push(
      `a converted adapter (from ${JSON.stringify(record.convertedFrom)}) applies to the original base, so needsMutatedBase must be false`,
    );
  }
  if (problems.length > 0) throw new InvalidAdapterRecordError(problems);
  return {
    name: record.name as string,
    kind: "lora",
    initMethod: record.initMethod as InitMethod,
    needsMutatedBase: record.needsMutatedBase as boolean,
    baseFingerprint: record.baseFingerprint as Fingerprint | null,
    residualBaseFingerprint: record.residualBaseFingerprint as Fingerprint | null,
    convertedFrom: record.convertedFrom as InitMethod | null,
    producer:
      producer === null ? null : { name: producer!.name as string, version: producer!.version as string },
  };
}

/** The `peftjs.*` metadata entries of a record (merge them into the adapter file's `__metadata__`). */
export function adapterRecordToMetadata(record: AdapterRecord): Record<string, string> {
  const valid = validateAdapterRecord(record);
  const keys = ADAPTER_METADATA_KEYS;
  const metadata: Record<string, string> = {
    [keys.version]: ADAPTER_RECORD_VERSION,
    [keys.name]: valid.name,
    [keys.kind]: valid.kind,
    [keys.initMethod]: JSON.stringify(valid.initMethod),
    [keys.needsMutatedBase]: String(valid.needsMutatedBase),
  };
  if (valid.baseFingerprint !== null) metadata[keys.baseFingerprint] = valid.baseFingerprint;
  if (valid.residualBaseFingerprint !== null)
    metadata[keys.residualBaseFingerprint] = valid.residualBaseFingerprint;
  if (valid.convertedFrom !== null) metadata[keys.convertedFrom] = JSON.stringify(valid.convertedFrom);
  if (valid.producer !== null) {
    metadata[keys.producerName] = valid.producer.name;
    metadata[keys.producerVersion] = valid.producer.version;
  }
  return metadata;
}

function parseJsonValue(text: string, key: string, problems: string[]): unknown {
  try {
    return JSON.parse(text);
  } catch {
    problems.push(`${key} ${JSON.stringify(text)} is not JSON`);
    return undefined;
  }
}

/**
 * Reads the record from an adapter file's `__metadata__`. Returns `null` when the file carries none (no
 * `peftjs.record_version` key, e.g. written by PEFT: use {@link deriveAdapterRecord} then); throws
 * {@link InvalidAdapterRecordError} when the keys are there but malformed or of an unknown version.
 */
export function adapterRecordFromMetadata(
  metadata: Readonly<Record<string, string>> | null,
): AdapterRecord | null {
  const keys = ADAPTER_METADATA_KEYS;
  if (metadata === null || metadata[keys.version] === undefined) return null;
  if (metadata[keys.version] !== ADAPTER_RECORD_VERSION) {
    throw new InvalidAdapterRecordError([
      `${keys.version} is ${JSON.stringify(metadata[keys.version])}; this version reads "${ADAPTER_RECORD_VERSION}"`,
    ]);
  }
  const problems: string[] = [];
  const needs = metadata[keys.needsMutatedBase];
  if (needs !== "true" && needs !== "false")
    problems.push(`${keys.needsMutatedBase} ${JSON.stringify(needs)} is not "true" or "false"`);
  const initText = metadata[keys.initMethod];
  const initMethod = initText === undefined ? undefined : parseJsonValue(initText, keys.initMethod, problems);
  const convertedText = metadata[keys.convertedFrom];
  const convertedFrom =
    convertedText === undefined ? null : parseJsonValue(convertedText, keys.convertedFrom, problems);
  const producerName = metadata[keys.producerName];
  const producerVersion = metadata[keys.producerVersion];
  if ((producerName === undefined) !== (producerVersion === undefined)) {
    problems.push(`${keys.producerName} and ${keys.producerVersion} must both be present or both absent`);
  }
  if (problems.length > 0) throw new InvalidAdapterRecordError(problems);
  return validateAdapterRecord({
    name: metadata[keys.name],
    kind: metadata[keys.kind],
    initMethod,
    needsMutatedBase: needs === "true",
    baseFingerprint: metadata[keys.baseFingerprint] ?? null,
    residualBaseFingerprint: metadata[keys.residualBaseFingerprint] ?? null,
    convertedFrom,
    producer: producerName === undefined ? null : { name: producerName, version: producerVersion },
  });
}

/** Options of {@link deriveAdapterRecord}. */
export interface DeriveAdapterRecordOptions {
  /** The adapter's name; default `"default"` (PEFT's). */
  name?: string;
}

/**
 * Derives a record from a parsed `adapter_config.json`, for adapters that carry no `peftjs.*` metadata
 * (those written by PEFT). Fingerprints are unknown (`null`); `needsMutatedBase` follows from
 * `init_lora_weights` (default `true`): `"pissa"`, `"pissa_niter_K"`, `"olora"` (and other base-rewriting
 * inits) mean the adapter is unconverted and its A, B only fit the residual base; `true`, `false`,
 * `"gaussian"` mean plain LoRA. The producer is `peft` at the config's `peft_version`.
 * Throws {@link InvalidAdapterRecordError} when `peft_type` is not `"LORA"` or the config is not an object.
 */
export function deriveAdapterRecord(
  adapterConfig: unknown,
  options: DeriveAdapterRecordOptions = {},
): AdapterRecord {
  if (typeof adapterConfig !== "object" || adapterConfig === null || Array.isArray(adapterConfig)) {
    throw new InvalidAdapterRecordError(["adapter_config.json is not a JSON object"]);
  }
  const config = adapterConfig as Record<string, unknown>;
  const problems: string[] = [];
  if (config.peft_type !== undefined && config.peft_type !== "LORA") {
    problems.push(
      `peft_type ${JSON.stringify(config.peft_type)} is not "LORA"; only LoRA adapters are described`,
    );
  }
  const initMethod = config.init_lora_weights ?? true;
  if (!isInitMethod(initMethod))
    problems.push(`init_lora_weights ${JSON.stringify(initMethod)} is not a boolean or a method name`);
  if (config.peft_version !== undefined && typeof config.peft_version !== "string") {
    problems.push(`peft_version ${JSON.stringify(config.peft_version)} is not a string`);
  }
  if (problems.length > 0) throw new InvalidAdapterRecordError(problems);
  return validateAdapterRecord({
    name: options.name ?? "default",
    kind: "lora",
    initMethod,
    needsMutatedBase: initMethodMutatesBase(initMethod as InitMethod),
    baseFingerprint: null,
    residualBaseFingerprint: null,
    convertedFrom: null,
    producer: typeof config.peft_version === "string" ? { name: "peft", version: config.peft_version } : null,
  });
}
