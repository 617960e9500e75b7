import {
  ADAPTER_METADATA_KEYS,
  type AdapterRecord,
  adapterRecordFromMetadata,
  adapterRecordToMetadata,
  deriveAdapterRecord,
} from "@peftjs/state";
import type { LoraAdapter, LoraFactors } from "./adapter.js";
import { adapterScaling, validateAdapter, variantParameterModule } from "./adapter.js";
import { loraConfigToJson, withLoraConfig } from "./config/lora-config.js";
import { AdapterConversionError } from "./errors.js";
import { checkInitialAdapter } from "./initial-adapter-check.js";
import { truncatedSvd } from "./math/decompositions.js";
import {
  concatColumns,
  concatRows,
  type Matrix,
  multiply,
  relativeError,
  scale,
  scaleColumns,
  scaleRows,
} from "./math/matrix.js";

function doublePattern(pattern: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(pattern).map(([key, value]) => [key, 2 * value]));
}

/**
 * Converts a trained PiSSA/OLoRA adapter into a plain LoRA adapter for the ORIGINAL base weight, exactly as PEFT's
 * `save_pretrained(path_initial_model_for_weight_conversion=…)`:
 * A' = [A; A₀] (rows), B' = [B, −B₀] (columns), so s'·B'A' = s·(BA − B₀A₀) and W + s'B'A' = W_res + s·BA;
 * r and lora_alpha doubled (α·√2 under rsLoRA, keeping s), rank/alpha patterns doubled, init_lora_weights = true.
 * rsLoRA together with rank/alpha patterns is refused, as in PEFT (the doubling would change the scaling).
 * A pair that cannot belong together is refused first ({@link checkInitialAdapter}). Neither input is modified.
 */
export function convertToLora(trained: LoraAdapter, initial: LoraAdapter): LoraAdapter {
  assertLinearOnly(trained, "convert");
  const config = trained.config;
  const hasPatterns =
    Object.keys(config.rank_pattern).length > 0 || Object.keys(config.alpha_pattern).length > 0;
  if (config.use_rslora && hasPatterns) {
    throw new AdapterConversionError(
      `cannot convert an adapter that uses rank_pattern ${JSON.stringify(config.rank_pattern)} / alpha_pattern ${JSON.stringify(config.alpha_pattern)} together with use_rslora (PEFT refuses it too: doubling r changes α/√r per module)`,
    );
  }
  assertPlainFactors(trained, "converted");
  checkInitialAdapter(trained, initial);
  const modules = new Map<string, LoraFactors>();
  for (const [name, { loraA, loraB }] of trained.modules) {
    const start = initial.modules.get(name);
    if (start === undefined) {
      throw new AdapterConversionError(
        `the initial adapter has no module "${name}" that the trained adapter has`,
      );
    }
    if (
      start.loraA.rows !== loraA.rows ||
      start.loraA.columns !== loraA.columns ||
      start.loraB.rows !== loraB.rows ||
      start.loraB.columns !== loraB.columns
    ) {
      throw new AdapterConversionError(
        `module "${name}": initial factors [${start.loraA.rows}, ${start.loraA.columns}]/[${start.loraB.rows}, ${start.loraB.columns}] do not match trained [${loraA.rows}, ${loraA.columns}]/[${loraB.rows}, ${loraB.columns}]`,
      );
    }
    modules.set(name, {
      loraA: concatRows([loraA, start.loraA]),
      loraB: concatColumns([loraB, scale(start.loraB, -1)]),
    });
  }
  const convertedConfig = withLoraConfig(config, {
    init_lora_weights: true,
    r: 2 * config.r,
    lora_alpha: config.use_rslora ? config.lora_alpha * Math.SQRT2 : 2 * config.lora_alpha,
    rank_pattern: doublePattern(config.rank_pattern),
    alpha_pattern: doublePattern(config.alpha_pattern),
  });
  // The record (state package): a converted adapter is plain LoRA for the ORIGINAL base, so it keeps the base
  // fingerprint, drops the residual one and records where it came from.
  const source =
    adapterRecordFromMetadata(trained.metadata) ??
    deriveAdapterRecord(loraConfigToJson(config), { name: "default" });
  const record: AdapterRecord = {
    ...source,
    initMethod: true,
    needsMutatedBase: false,
    residualBaseFingerprint: null,
    convertedFrom: source.convertedFrom ?? config.init_lora_weights,
  };
  const adapter: LoraAdapter = {
    config: convertedConfig,
    modules,
    metadata: { ...withoutRecord(trained.metadata), ...adapterRecordToMetadata(record) },
    // trained biases (bias "lora_only" / "all") do not depend on the base weight: they carry over unchanged
    ...(trained.biases && { biases: trained.biases }),
  };
  validateAdapter(adapter);
  return adapter;
}

/** Metadata without the `peftjs.*` record keys (and without the init seed, which a converted adapter no longer needs). */
function withoutRecord(metadata: Readonly<Record<string, string>>): Record<string, string> {
  const recordKeys = new Set<string>([...Object.values(ADAPTER_METADATA_KEYS), "peftjs.init_seed"]);
  return Object.fromEntries(Object.entries(metadata).filter(([key]) => !recordKeys.has(key)));
}

/** Per-module error of a recompressed or combined adapter against the exact delta it approximates. */
export interface DeltaErrorReport {
  /** ‖Δ_approx − Δ_exact‖_F / ‖Δ_exact‖_F per module. */
  readonly relativeErrors: ReadonlyMap<string, number>;
  /** The same over all modules together (sums of squares pooled). */
  readonly totalRelativeError: number;
  /** The largest per-module relative error. */
  readonly maxRelativeError: number;
}

/** Builds a {@link DeltaErrorReport} from approximate and exact deltas per module. */
export function compareDeltas(
  approximate: ReadonlyMap<string, Matrix>,
  exact: ReadonlyMap<string, Matrix>,
): DeltaErrorReport {
  const relativeErrors = new Map<string, number>();
  let differenceSquares = 0;
  let referenceSquares = 0;
  for (const [name, reference] of exact) {
    const candidate = approximate.get(name);
    if (candidate === undefined)
      throw new AdapterConversionError(`no approximate delta for module "${name}"`);
    const error = relativeError(candidate, reference);
    relativeErrors.set(name, error);
    let norm = 0;
    for (const value of reference.data) norm += value * value;
    referenceSquares += norm;
    differenceSquares += error === Number.POSITIVE_INFINITY ? 0 : error * error * norm;
  }
  const maxRelativeError = Math.max(0, ...relativeErrors.values());
  const totalRelativeError = referenceSquares === 0 ? 0 : Math.sqrt(differenceSquares / referenceSquares);
  return { relativeErrors, totalRelativeError, maxRelativeError };
}

/** The result of {@link recompressAdapter}: the smaller adapter and the error it introduces. */
export interface RecompressionResult {
  /** The rank-`rank` adapter (scaling 1: lora_alpha = r, no rsLoRA, no patterns). */
  readonly adapter: LoraAdapter;
  /** Error of its deltas against the input adapter's deltas. */
  readonly report: DeltaErrorReport;
}

/**
 * Recompresses an adapter (typically a converted rank-2r one) to `rank` by truncated SVD of each module's delta
 * s·B·A = U S Vᵀ: B'' = U_k·√S_k, A'' = √S_k·V_kᵀ with scaling 1 — the best rank-k approximation in Frobenius
 * norm (Eckart–Young). PEFT has no equivalent; the report says what the truncation costs.
 */
export function recompressAdapter(adapter: LoraAdapter, rank: number): RecompressionResult {
  assertLinearOnly(adapter, "recompress");
  if (!Number.isInteger(rank) || rank <= 0) {
    throw new AdapterConversionError(`recompression rank must be a positive integer, got ${rank}`);
  }
  assertPlainFactors(adapter, "recompressed");
  const modules = new Map<string, LoraFactors>();
  const exact = new Map<string, Matrix>();
  const approximate = new Map<string, Matrix>();
  for (const [name, { loraA, loraB }] of adapter.modules) {
    const delta = scale(multiply(loraB, loraA), adapterScaling(adapter, name));
    const factors = truncatedSvd(delta, rank);
    const root = Float32Array.from(factors.singularValues, (value) => Math.sqrt(value));
    const loraBNew = scaleColumns(factors.left, root);
    const loraANew = scaleRows(factors.rightTransposed, root);
    modules.set(name, { loraA: loraANew, loraB: loraBNew });
    exact.set(name, delta);
    approximate.set(name, multiply(loraBNew, loraANew));
  }
  const config = withLoraConfig(adapter.config, {
    r: rank,
    lora_alpha: rank,
    use_rslora: false,
    rank_pattern: {},
    alpha_pattern: {},
    init_lora_weights: true,
  });
  return {
    adapter: { config, modules, metadata: { ...adapter.metadata } },
    report: compareDeltas(approximate, exact),
  };
}

/** Conversion and recompression handle LoRA on Linear modules only (an embedding's layout would be lost). */
function assertLinearOnly(adapter: LoraAdapter, what: string): void {
  const embedding = [...adapter.modules].find(([, factors]) => factors.kind === "embedding");
  if (embedding !== undefined || (adapter.trainableTokens?.size ?? 0) > 0) {
    throw new AdapterConversionError(
      `cannot ${what} an adapter with ${embedding ? `LoRA on the embedding "${embedding[0]}"` : "trainable token rows"}: only LoRA on Linear modules is supported`,
    );
  }
}

/** Conversion and recompression act on s·B·A; a variant's parameters (DoRA's magnitude) would be lost. */
function assertPlainFactors(adapter: LoraAdapter, operation: string): void {
  const found = variantParameterModule(adapter);
  if (found !== undefined) {
    throw new AdapterConversionError(
      `module "${found.module}" holds ${found.parameters.join(", ")} (a LoRA variant such as DoRA): such an adapter cannot be ${operation} as s·B·A alone without changing what it does`,
    );
  }
}
