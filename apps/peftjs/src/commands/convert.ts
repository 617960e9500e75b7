import { convertToLora, recompressAdapter } from "@peftjs/adapters";
import { CliUsageError } from "../cli-error.js";
import {
  checkDistinctAdapters,
  isUnconverted,
  readAdapterFolder,
  saveAdapterFolder,
} from "../lib/adapter-files.js";
import { optionalInteger, requiredString } from "../lib/cli-options.js";
import { writeOutputFolder } from "../lib/output-folder.js";
import { printable, style } from "../terminal.js";
import type { Command } from "./command.js";

/** What `peftjs convert --json` prints. */
export interface ConvertReport {
  out: string;
  from: string;
  r: number;
  loraAlpha: number;
  modules: number;
  /** With --compress-rank: the relative Frobenius error of the recompressed deltas (overall and worst module). */
  recompression: { rank: number; totalRelativeError: number; maxRelativeError: number } | null;
}

/** `peftjs convert`: a trained PiSSA/OLoRA adapter → a plain LoRA adapter for the original base. */
export const convertCommand: Command = {
  summary: "convert a trained PiSSA/OLoRA adapter to plain LoRA for the original base",
  help: `Usage: peftjs convert --initial DIR --trained DIR --out DIR [--compress-rank R] [--json]

Converts a trained, unconverted PiSSA / OLoRA adapter into a plain LoRA adapter that is exact on the
ORIGINAL base, as PEFT's save_pretrained(path_initial_model_for_weight_conversion=…) does:
A' = [A; A₀], B' = [B, −B₀], r and lora_alpha doubled (alpha·√2 with rsLoRA), patterns doubled.
The result loads anywhere a LoRA adapter does, next to other adapters, with no base rewrite.

The pair must belong together: same rank, alpha and target modules; from their peftjs.* metadata, the same
init method, base and init seed; and for files without metadata (PEFT's), every trained row of lora_A and
column of lora_B still pointing the same way as the initial one (cosine above 0: matching pairs of PEFT's
fixtures stay above 0.77, mismatched ones fall below −0.96). The same adapter twice is refused.

Options:
  --initial DIR       the init adapter (PEFT's adapter_init, or "peftjs init"'s output): A₀, B₀
  --trained DIR       the trained adapter (config init_lora_weights pissa / pissa_niter_K / olora)
  --out DIR           the converted adapter folder to create (must not exist or be empty)
  --compress-rank R   then recompress to rank R by truncated SVD of each delta (scaling 1); the error is
                      reported (best rank-R approximation; PEFT has no equivalent)
  --json              print {"out", "from", "r", "loraAlpha", "modules", "recompression"}

Runs on the CPU in float32/float64 (no --backend).`,
  options: {
    initial: { type: "string" },
    trained: { type: "string" },
    out: { type: "string" },
    "compress-rank": { type: "string" },
    json: { type: "boolean" },
  },
  files: {
    flags: { initial: { kind: "input" }, trained: { kind: "input" }, out: { kind: "output-folder" } },
  },
  async run(values) {
    const initialDir = requiredString(values, "initial");
    const trainedDir = requiredString(values, "trained");
    const outDir = requiredString(values, "out");
    const compressRank = optionalInteger(values, "compress-rank", { min: 1 });
    const initial = await readAdapterFolder(initialDir, "initial");
    const trained = await readAdapterFolder(trainedDir, "trained");
    if (!isUnconverted(trained)) {
      throw new CliUsageError(
        `--trained ${trainedDir} is a plain LoRA adapter (init_lora_weights ${JSON.stringify(trained.config.init_lora_weights)}); only unconverted PiSSA/OLoRA adapters need converting`,
      );
    }
    await checkDistinctAdapters(
      { flag: "initial", path: initialDir, adapter: initial },
      { flag: "trained", path: trainedDir, adapter: trained },
    );
    let adapter = convertToLora(trained, initial);
    let recompression: ConvertReport["recompression"] = null;
    if (compressRank !== undefined) {
      const result = recompressAdapter(adapter, compressRank);
      adapter = result.adapter;
      recompression = {
        rank: compressRank,
        totalRelativeError: result.report.totalRelativeError,
        maxRelativeError: result.report.maxRelativeError,
      };
    }
    const written = await writeOutputFolder(outDir, (folder) => saveAdapterFolder(folder, adapter));
    const report: ConvertReport = {
      out: written,
      from: String(trained.config.init_lora_weights),
      r: adapter.config.r,
      loraAlpha: adapter.config.lora_alpha,
      modules: adapter.modules.size,
      recompression,
    };
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    console.log(
      `${style.green("converted")} ${report.from} → LoRA r ${report.r}, alpha ${report.loraAlpha}, ${report.modules} modules: ${printable(written)}`,
    );
    if (recompression !== null) {
      console.log(
        `recompressed to rank ${recompression.rank}: relative delta error ${recompression.totalRelativeError.toExponential(3)} overall, ${recompression.maxRelativeError.toExponential(3)} worst module`,
      );
    }
  },
};
