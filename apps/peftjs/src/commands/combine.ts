import {
  COMBINATION_TYPES,
  type CombinationTraits,
  type CombinationType,
  type CombineOptions,
  combinationTraits,
  combineAdapters,
  isCombinationType,
  MAJORITY_SIGN_METHODS,
  type MajoritySignMethod,
  type RandomPruningStatistics,
} from "@peftjs/adapters";
import { CliUsageError } from "../cli-error.js";
import {
  adapterRecordOf,
  isInitAdapterForConversion,
  isUnconverted,
  readAdapterFolder,
  saveAdapterFolder,
} from "../lib/adapter-files.js";
import {
  optionalInteger,
  optionalNumber,
  optionalString,
  pathWithWeight,
  requiredString,
  stringList,
} from "../lib/cli-options.js";
import { writeOutputFolder } from "../lib/output-folder.js";
import { style } from "../terminal.js";
import type { Command, FlagValues } from "./command.js";

/** What `peftjs combine --json` prints. */
export interface CombineReport {
  out: string;
  /** The requested method. */
  method: CombinationType;
  /** The method applied (`linear` for a single adapter, as PEFT). */
  appliedMethod: CombinationType;
  rank: number;
  adapters: { path: string; weight: number }[];
  density: number | null;
  majoritySign: MajoritySignMethod | null;
  /** DARE masks: seed (recorded in the adapter's metadata), density, elements kept of those masked. */
  randomPruning: RandomPruningStatistics | null;
  /** ‖Δ_combined − Σ wᵢ·Δᵢ‖_F / ‖Σ wᵢ·Δᵢ‖_F over all modules, and the worst module. */
  totalRelativeError: number;
  maxRelativeError: number;
  /** Clamps and fallbacks applied (an --rank above what the deltas can carry, a single adapter, density 1). */
  notes: string[];
}

/** The methods for which `predicate` holds, for messages. */
function methodsWhere(predicate: (traits: CombinationTraits) => boolean): string {
  return COMBINATION_TYPES.filter((type) => predicate(combinationTraits(type))).join(", ");
}

/** Parses and checks the method flags before any adapter is read; messages name the flags. */
function parseCombineOptions(values: FlagValues): CombineOptions {
  const method = requiredString(values, "method");
  if (!isCombinationType(method)) {
    throw new CliUsageError(`--method ${method} is not one of ${COMBINATION_TYPES.join(", ")}`);
  }
  const traits = combinationTraits(method);
  const density = optionalNumber(values, "density");
  if (traits.pruning === "none") {
    if (density !== undefined) {
      throw new CliUsageError(
        `--density applies to ${methodsWhere((entry) => entry.pruning !== "none")}, not to --method ${method}`,
      );
    }
  } else if (density === undefined) {
    throw new CliUsageError(
      `--method ${method} needs --density D in (0, 1]: the fraction of each tensor kept`,
    );
  } else if (!(density > 0 && density <= 1)) {
    throw new CliUsageError(`--density ${String(values.density)} is outside (0, 1]`);
  }
  const majoritySign = optionalString(values, "majority-sign");
  if (majoritySign !== undefined) {
    if (!traits.electsSign) {
      throw new CliUsageError(
        `--majority-sign applies to ${methodsWhere((entry) => entry.electsSign)}, not to --method ${method}`,
      );
    }
    if (!(MAJORITY_SIGN_METHODS as readonly string[]).includes(majoritySign)) {
      throw new CliUsageError(
        `--majority-sign ${majoritySign} is not one of ${MAJORITY_SIGN_METHODS.join(", ")}`,
      );
    }
  }
  const seed = optionalInteger(values, "seed", { min: 0 });
  if (seed !== undefined && traits.pruning !== "random") {
    throw new CliUsageError(
      `--seed applies to the random methods ${methodsWhere((entry) => entry.pruning === "random")}, not to --method ${method}`,
    );
  }
  const rank = optionalInteger(values, "rank", { min: 1 });
  if (rank !== undefined && traits.acts !== "deltas") {
    throw new CliUsageError(
      `--rank applies to ${methodsWhere((entry) => entry.acts === "deltas")}, not to --method ${method}`,
    );
  }
  return {
    type: method,
    density,
    majoritySignMethod: majoritySign as MajoritySignMethod | undefined,
    seed,
    svdRank: rank,
  };
}

/** `peftjs combine`: a weighted combination of LoRA adapters (PEFT's add_weighted_adapter). */
export const combineCommand: Command = {
  summary: "combine LoRA adapters with weights (cat, linear, svd, ties, dare_*, magnitude_prune, …) into one",
  help: `Usage: peftjs combine --adapter DIR:WEIGHT --adapter DIR:WEIGHT ... --method NAME
                      [--density D] [--majority-sign total|frequency] [--seed S] [--rank R]
                      --out DIR [--json]

PEFT's add_weighted_adapter (0.21), saved with lora_alpha = r (scaling 1). Weights wᵢ, scalings sᵢ:
  cat              A' = [w₁s₁A₁; w₂s₂A₂; …], B' = [B₁, B₂, …], rank Σrᵢ: exactly Σ wᵢsᵢBᵢAᵢ
  linear           A' = Σ sign(wᵢsᵢ)√|wᵢsᵢ|·Aᵢ, B' = Σ √|wᵢsᵢ|·Bᵢ (equal ranks): cross terms, approximate
  ties             like linear, but each factor is pruned to its top --density |x|, a sign is elected
                   per element and the agreeing values are averaged
  magnitude_prune  like linear on factors pruned to their top --density |x|
  dare_linear      like linear on factors randomly pruned to --density, rescaled by 1/density
  dare_ties        dare's random pruning, then ties's sign election and mean
  svd              the rank-R truncated SVD of Σ wᵢsᵢBᵢAᵢ
  ties_svd, magnitude_prune_svd, dare_linear_svd, dare_ties_svd
                   the same merges applied to the deltas sᵢBᵢAᵢ (not the factors), then the rank-R SVD
Only cat is exact: the factor-level methods (linear, ties, magnitude_prune, dare_*) land far from
Σ wᵢsᵢBᵢAᵢ (PEFT's own results: 82-224 % relative error); the error is reported. A single adapter is
combined with linear, as PEFT does. An --rank above what the deltas can carry (svd: Σrᵢ; pruned: min(out,
in)) is clamped, with a note. Unconverted PiSSA/OLoRA adapters are refused (their deltas only mean something
on their residual base): convert them first with "peftjs convert".

Options:
  --adapter DIR:W       an adapter folder and its weight; repeat for each
  --method NAME         ${COMBINATION_TYPES.join(" | ")}
  --density D           fraction of each tensor kept, in (0, 1]; required by ties, dare_*, magnitude_prune*
  --majority-sign M     total (sign of the sum, default) | frequency (sign held by more adapters); ties types
  --seed S              seed of the DARE masks (default 0; Philox, recorded in the adapter's metadata)
  --rank R              rank of svd and *_svd results (default the largest input rank)
  --out DIR             the combined adapter folder to create (must not exist or be empty)
  --json                print {"out", "method", "appliedMethod", "rank", "adapters", "density",
                        "majoritySign", "randomPruning", "totalRelativeError", "maxRelativeError", "notes"}

Runs on the CPU in float32/float64 (no --backend).`,
  options: {
    adapter: { type: "string", multiple: true },
    method: { type: "string" },
    density: { type: "string" },
    "majority-sign": { type: "string" },
    seed: { type: "string" },
    rank: { type: "string" },
    out: { type: "string" },
    json: { type: "boolean" },
  },
  files: { flags: { adapter: { kind: "adapters" }, out: { kind: "output-folder" } } },
  async run(values) {
    const specs = stringList(values, "adapter").map((spec) => pathWithWeight(spec, undefined));
    if (specs.length === 0) throw new CliUsageError("--adapter DIR:WEIGHT is required (at least one)");
    const options = parseCombineOptions(values);
    const outDir = requiredString(values, "out");
    const adapters = [];
    for (const spec of specs) {
      const adapter = await readAdapterFolder(spec.path);
      if (isUnconverted(adapter) || isInitAdapterForConversion(adapter)) {
        throw new CliUsageError(
          `--adapter ${spec.path} is an unconverted ${JSON.stringify(adapterRecordOf(adapter).initMethod)} ${isUnconverted(adapter) ? "adapter" : "init adapter"} that only fits a residual base; convert it with "peftjs convert" first`,
        );
      }
      adapters.push(adapter);
    }
    const result = combineAdapters(
      adapters,
      specs.map((spec) => spec.weight),
      options,
    );
    const written = await writeOutputFolder(outDir, (folder) => saveAdapterFolder(folder, result.adapter));
    const report: CombineReport = {
      out: written,
      method: options.type,
      appliedMethod: result.appliedType,
      rank: result.adapter.config.r,
      adapters: specs,
      density: options.density ?? null,
      majoritySign: combinationTraits(result.appliedType).electsSign
        ? (options.majoritySignMethod ?? "total")
        : null,
      randomPruning: result.randomPruning,
      totalRelativeError: result.report.totalRelativeError,
      maxRelativeError: result.report.maxRelativeError,
      notes: result.notes.map((note) => note.message),
    };
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    for (const note of report.notes) console.log(style.yellow(`note: ${note}`));
    const details = [
      report.appliedMethod,
      ...(report.density === null ? [] : [`density ${report.density}`]),
      `rank ${report.rank}`,
    ].join(", ");
    console.log(
      `${style.green("combined")} ${specs.length} adapters (${details}): relative delta error ${report.totalRelativeError.toExponential(3)}; ${written}`,
    );
    if (report.randomPruning !== null) {
      const { keptElements, totalElements, seed } = report.randomPruning;
      console.log(
        `DARE masks: kept ${keptElements} of ${totalElements} elements (${((100 * keptElements) / totalElements).toFixed(1)} %), seed ${seed} (recorded in the adapter's metadata)`,
      );
    }
  },
};
