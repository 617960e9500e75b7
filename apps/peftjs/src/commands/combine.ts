import { type CombinationType, combineAdapters } from "@peftjs/adapters";
import { CliUsageError } from "../cli-error.js";
import {
  adapterRecordOf,
  isInitAdapterForConversion,
  isUnconverted,
  readAdapterFolder,
  saveAdapterFolder,
} from "../lib/adapter-files.js";
import { optionalInteger, pathWithWeight, requiredString, stringList } from "../lib/cli-options.js";
import { writeOutputFolder } from "../lib/output-folder.js";
import { style } from "../terminal.js";
import type { Command } from "./command.js";

/** What `peftjs combine --json` prints. */
export interface CombineReport {
  out: string;
  method: CombinationType;
  rank: number;
  adapters: { path: string; weight: number }[];
  /** ‖Δ_combined − Σ wᵢ·Δᵢ‖_F / ‖Σ wᵢ·Δᵢ‖_F over all modules, and the worst module. */
  totalRelativeError: number;
  maxRelativeError: number;
}

const combinationTypes: readonly CombinationType[] = ["cat", "linear", "svd"];

/** `peftjs combine`: a weighted combination of LoRA adapters (PEFT's add_weighted_adapter). */
export const combineCommand: Command = {
  summary: "combine LoRA adapters with weights (cat, linear, svd) into one adapter",
  help: `Usage: peftjs combine --adapter DIR:WEIGHT --adapter DIR:WEIGHT ... --method cat|linear|svd
                      [--rank R] --out DIR [--json]

PEFT's add_weighted_adapter, saved with lora_alpha = r (scaling 1):
  cat     A' = [w₁s₁A₁; w₂s₂A₂; …], B' = [B₁, B₂, …], rank Σrᵢ: exactly Σ wᵢsᵢBᵢAᵢ
  linear  A' = Σ √(wᵢsᵢ)·Aᵢ, B' = Σ √(wᵢsᵢ)·Bᵢ, equal ranks: an approximation (cross terms)
  svd     the rank-R truncated SVD of Σ wᵢsᵢBᵢAᵢ
The error against the exact weighted sum is reported. Unconverted PiSSA/OLoRA adapters are refused (their
deltas only mean something on their residual base): convert them first with "peftjs convert".

Options:
  --adapter DIR:W   an adapter folder and its weight; repeat for each
  --method NAME     cat | linear | svd
  --rank R          rank of the svd result (default the largest input rank)
  --out DIR         the combined adapter folder to create (must not exist or be empty)
  --json            print {"out", "method", "rank", "adapters", "totalRelativeError", "maxRelativeError"}

Runs on the CPU in float32/float64 (no --backend).`,
  options: {
    adapter: { type: "string", multiple: true },
    method: { type: "string" },
    rank: { type: "string" },
    out: { type: "string" },
    json: { type: "boolean" },
  },
  async run(values) {
    const specs = stringList(values, "adapter").map((spec) => pathWithWeight(spec, undefined));
    if (specs.length === 0) throw new CliUsageError("--adapter DIR:WEIGHT is required (at least one)");
    const method = requiredString(values, "method") as CombinationType;
    if (!combinationTypes.includes(method)) {
      throw new CliUsageError(`--method ${method} is not one of ${combinationTypes.join(", ")}`);
    }
    const rank = optionalInteger(values, "rank", { min: 1 });
    if (rank !== undefined && method !== "svd")
      throw new CliUsageError("--rank applies to --method svd only");
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
      { type: method, svdRank: rank },
    );
    const written = await writeOutputFolder(outDir, (folder) => saveAdapterFolder(folder, result.adapter));
    const report: CombineReport = {
      out: written,
      method,
      rank: result.adapter.config.r,
      adapters: specs,
      totalRelativeError: result.report.totalRelativeError,
      maxRelativeError: result.report.maxRelativeError,
    };
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    console.log(
      `${style.green("combined")} ${specs.length} adapters (${method}, rank ${report.rank}): relative delta error ${report.totalRelativeError.toExponential(3)}; ${written}`,
    );
  },
};
