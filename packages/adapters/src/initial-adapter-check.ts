import { type AdapterRecord, adapterRecordFromMetadata } from "@peftjs/state";
import type { LoraAdapter } from "./adapter.js";
import { AdapterConversionError } from "./errors.js";
import type { Matrix } from "./math/matrix.js";

/** The metadata key of the seed an init ran with (written by `LoraModel.getAdapter`). */
const initSeedKey = "peftjs.init_seed";

/**
 * The smallest cosine allowed between a trained factor vector (a row of lora_A, a column of lora_B) and the
 * same vector of its initial adapter, when no metadata proves that the two belong together (PEFT's files).
 *
 * Measured on every PiSSA/OLoRA case of PEFT's fixtures (20 AdamW steps at lr 5e-3 from `adapter_init`):
 * matching pairs have a smallest cosine of 0.93 (pissa, pissa_bf16, pissa_niter_4), 0.85 (pissa_patterns)
 * and 0.78 (olora); every mismatched pair with matching shapes has one of −0.96 or below (pissa vs olora,
 * pissa_niter_4 vs pissa: SVD sign flips, olora vs pissa). Zero sits between with margin on both sides, and
 * means what it says: some trained vector points away from the vector it started from.
 */
export const MIN_INITIAL_COSINE = 0;

/** Cosine of row `row` of `a` and `b` (or column, with `byColumn`); NaN when either is zero. */
function cosine(a: Matrix, b: Matrix, index: number, byColumn: boolean): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  const count = byColumn ? a.rows : a.columns;
  for (let step = 0; step < count; step++) {
    const at = byColumn ? step * a.columns + index : index * a.columns + step;
    const x = a.data[at] as number;
    const y = b.data[at] as number;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return dot / Math.sqrt(normA * normB);
}

function methodOf(adapter: LoraAdapter, record: AdapterRecord | null): string | null {
  const fromConfig = adapter.config.init_lora_weights;
  if (typeof fromConfig === "string") return fromConfig;
  // An init adapter saved for conversion says `true` in its config; its record keeps the method.
  return record !== null && typeof record.initMethod === "string" ? record.initMethod : null;
}

/**
 * Checks that `initial` is the init adapter (A₀, B₀) that `trained` started from, before a conversion
 * (A' = [A; A₀], B' = [B, −B₀]) or a reload that takes A₀/B₀ from it: a wrong pair gives a wrong model
 * silently. Refused: a different rank, alpha, rsLoRA or rank/alpha pattern; different target modules; from
 * the metadata, a different init method, base fingerprint or init seed. When the metadata cannot prove the pairing (PEFT's files carry none), every
 * trained row of lora_A and column of lora_B must still point the same way as the initial one (cosine above
 * {@link MIN_INITIAL_COSINE}).
 * @throws AdapterConversionError naming the difference
 */
export function checkInitialAdapter(trained: LoraAdapter, initial: LoraAdapter): void {
  const trainedConfig = trained.config;
  const initialConfig = initial.config;
  for (const field of ["r", "lora_alpha", "use_rslora", "rank_pattern", "alpha_pattern"] as const) {
    const left = JSON.stringify(trainedConfig[field]);
    const right = JSON.stringify(initialConfig[field]);
    if (left !== right) {
      throw new AdapterConversionError(
        `the initial adapter has ${field} ${right} but the trained one ${left}: they cannot belong together`,
      );
    }
  }
  const trainedModules = [...trained.modules.keys()].sort();
  const initialModules = [...initial.modules.keys()].sort();
  if (JSON.stringify(trainedModules) !== JSON.stringify(initialModules)) {
    const onlyTrained = trainedModules.filter((name) => !initial.modules.has(name));
    const onlyInitial = initialModules.filter((name) => !trained.modules.has(name));
    throw new AdapterConversionError(
      `the initial and trained adapters wrap different modules (${[
        onlyTrained.length > 0 ? `only the trained one: ${onlyTrained.slice(0, 3).join(", ")}` : "",
        onlyInitial.length > 0 ? `only the initial one: ${onlyInitial.slice(0, 3).join(", ")}` : "",
      ]
        .filter((part) => part !== "")
        .join("; ")}): they cannot belong together`,
    );
  }
  const trainedRecord = adapterRecordFromMetadata(trained.metadata);
  const initialRecord = adapterRecordFromMetadata(initial.metadata);
  const trainedMethod = methodOf(trained, trainedRecord);
  const initialMethod = methodOf(initial, initialRecord);
  if (trainedMethod !== null && initialMethod !== null && trainedMethod !== initialMethod) {
    throw new AdapterConversionError(
      `the initial adapter was made by init ${JSON.stringify(initialMethod)}, the trained one by ${JSON.stringify(trainedMethod)}: they cannot belong together`,
    );
  }
  const trainedBase = trainedRecord?.baseFingerprint ?? null;
  const initialBase = initialRecord?.baseFingerprint ?? null;
  if (trainedBase !== null && initialBase !== null && trainedBase !== initialBase) {
    throw new AdapterConversionError(
      `the initial adapter belongs to base ${initialBase}, the trained one to ${trainedBase}: they cannot belong together`,
    );
  }
  const trainedSeed = trained.metadata[initSeedKey];
  const initialSeed = initial.metadata[initSeedKey];
  if (trainedSeed !== undefined && initialSeed !== undefined && trainedSeed !== initialSeed) {
    throw new AdapterConversionError(
      `the initial adapter was initialised with seed ${initialSeed}, the trained one with seed ${trainedSeed}: they cannot belong together`,
    );
  }
  const provenByMetadata =
    trainedBase !== null && trainedBase === initialBase && trainedMethod !== null && initialMethod !== null;
  if (!provenByMetadata) checkDirections(trained, initial);
}

/** Every trained lora_A row and lora_B column must point the same way as its initial counterpart. */
function checkDirections(trained: LoraAdapter, initial: LoraAdapter): void {
  for (const [name, { loraA, loraB }] of trained.modules) {
    const start = initial.modules.get(name)!;
    for (const [factor, matrix, reference, byColumn, count] of [
      ["lora_A row", loraA, start.loraA, false, loraA.rows],
      ["lora_B column", loraB, start.loraB, true, loraB.columns],
    ] as const) {
      for (let index = 0; index < count; index++) {
        const value = cosine(matrix, reference, index, byColumn);
        if (value <= MIN_INITIAL_COSINE) {
          throw new AdapterConversionError(
            `module "${name}": ${factor} ${index} of the trained adapter points away from the initial adapter's (cosine ${value.toFixed(3)}; pairs that belong together stay above ${MIN_INITIAL_COSINE}): the initial adapter is not the one this adapter was trained from`,
          );
        }
      }
    }
  }
}
