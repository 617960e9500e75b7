import { type LoraAdapter, LoraModel } from "@peftjs/adapters";
import { isPeftjsError, PeftjsError } from "@peftjs/io";
import { Linear } from "@peftjs/nn";
import { checkCompatibility } from "@peftjs/state";
import { setBackend } from "@peftjs/tensor";
import {
  adapterRecordOf,
  attachAdapter,
  isInitAdapterForConversion,
  isUnconverted,
  readAdapterFolder,
} from "../lib/adapter-files.js";
import { parseAdapterSpecs } from "../lib/adapter-spec.js";
import { type BaseModel, loadBaseModel } from "../lib/base-model.js";
import { parseBackendChoice, requiredString } from "../lib/cli-options.js";
import { modelLocation } from "../lib/model-location.js";
import { printable, style } from "../terminal.js";
import type { Command } from "./command.js";

/** `peftjs verify` found that the adapter does not belong on the base; the message says why and what to do. */
export class AdapterVerificationError extends PeftjsError {
  constructor(message: string) {
    super("adapter_verification", message);
  }
}

/** What the adapter is, for the report. */
export type VerifiedAdapterKind = "lora" | "unconverted" | "init";

/** What `peftjs verify --json` prints when the adapter does not belong on the base (exit 1). */
export interface VerifyFailure {
  ok: false;
  model: string;
  adapter: string;
  /** The refusal: the error's class name, its stable code and its message (reason and remedy). */
  error: { name: string; code: string; message: string };
}

/** What `peftjs verify --json` prints when the adapter belongs on the base. */
export interface VerifyReport {
  ok: true;
  model: string;
  adapter: string;
  /** The base's model fingerprint. */
  fingerprint: string;
  kind: VerifiedAdapterKind;
  initMethod: string;
  /** True when a recorded fingerprint matched; false when only shapes / the subspace check could be used. */
  verified: boolean;
  /** How the adapter is to be used on this base. */
  note: string;
}

function checkShapes(base: BaseModel, adapter: LoraAdapter): void {
  const layers = new Map(
    [...base.model.namedModules()].filter((entry): entry is [string, Linear] => entry[1] instanceof Linear),
  );
  for (const [name, { loraA, loraB }] of adapter.modules) {
    const layer = layers.get(name);
    if (layer === undefined) {
      throw new AdapterVerificationError(
        `the base has no linear module "${name}" that the adapter wraps: it is another architecture; use the adapter's own base model`,
      );
    }
    if (loraA.columns !== layer.inFeatures || loraB.rows !== layer.outFeatures) {
      throw new AdapterVerificationError(
        `shape mismatch at "${name}": lora_A [${loraA.rows}, ${loraA.columns}] and lora_B [${loraB.rows}, ${loraB.columns}] do not fit its weight [${layer.outFeatures}, ${layer.inFeatures}]; use the adapter's own base model`,
      );
    }
  }
}

/**
 * Decides whether `adapter` belongs on `base` (see the command's help for the rules) and returns how it is to
 * be used there; throws {@link AdapterVerificationError} (or the state / adapters packages' compatibility
 * errors, whose messages carry the remedy) when it does not. After its own rules it loads the adapter exactly
 * as `logits` and `generate` do (the same function, every guard of the loader), so whatever would fail to load
 * fails here too.
 */
export function verifyAdapter(
  base: BaseModel,
  adapter: LoraAdapter,
  options: { strict: boolean },
): Omit<VerifyReport, "model" | "adapter"> {
  const verdict = classify(base, adapter, options);
  const lora = LoraModel.create(base.model);
  attachAdapter(lora, "adapter", adapter, { activate: true });
  lora.unload();
  return verdict;
}

function classify(
  base: BaseModel,
  adapter: LoraAdapter,
  options: { strict: boolean },
): Omit<VerifyReport, "model" | "adapter"> {
  checkShapes(base, adapter);
  const fingerprint = base.store.modelFingerprint();
  const record = adapterRecordOf(adapter);
  const initMethod = JSON.stringify(record.initMethod);
  if (isInitAdapterForConversion(adapter)) {
    if (options.strict || record.residualBaseFingerprint !== fingerprint) {
      const where =
        record.residualBaseFingerprint === null
          ? "its residual base (not recorded)"
          : `its residual base ${record.residualBaseFingerprint}`;
      throw new AdapterVerificationError(
        `this is a ${initMethod} init adapter (A₀/B₀ saved with init_lora_weights true for conversion): it gives the original model only on ${where}, and this base is ${fingerprint}${fingerprint === record.baseFingerprint ? " (the original: s·B₀A₀ would be added twice)" : ""}; use it with the model written by "peftjs init --residual-out", train it with "peftjs train --adapter", or pass it to "peftjs convert --initial"`,
      );
    }
    return {
      ok: true,
      fingerprint,
      kind: "init",
      initMethod,
      verified: true,
      note: "init adapter on its residual base (PEFT loads it there as plain LoRA)",
    };
  }
  if (!isUnconverted(adapter)) {
    const result = checkCompatibility(base.store, record);
    if (!result.ok) throw result.error;
    return {
      ok: true,
      fingerprint,
      kind: "lora",
      initMethod,
      verified: result.verified,
      note: result.verified
        ? "plain LoRA on the base whose fingerprint it records"
        : "plain LoRA; the file records no fingerprint (PEFT), so only the module shapes could be checked",
    };
  }
  if (options.strict) {
    throw new AdapterVerificationError(
      `the adapter is an unconverted ${initMethod} adapter: its loaders re-run the init and rewrite the base to W − s·B₀A₀ (PEFT in place, issue #2184), so it is not a plain LoRA for this base (--strict); convert it with "peftjs convert --initial INIT --trained ADAPTER"`,
    );
  }
  if (record.residualBaseFingerprint !== null && record.residualBaseFingerprint === fingerprint) {
    throw new AdapterVerificationError(
      `the base is this ${initMethod} adapter's residual (W − s·B₀A₀, ${fingerprint}); loading an unconverted adapter re-runs its init and subtracts s·B₀A₀ a second time (PEFT does); load it on the original base, or convert it with "peftjs convert"`,
    );
  }
  // The load that follows checks the recorded fingerprint (overlay mode needs the original base) or, for files
  // without one, the subspace test that tells the original base from a residual.
  return {
    ok: true,
    fingerprint,
    kind: "unconverted",
    initMethod,
    verified: record.baseFingerprint !== null,
    note:
      (record.baseFingerprint !== null
        ? "the original base whose fingerprint it records"
        : "the original base (its lora_A lies in the base's top-r singular subspace; the file records no fingerprint)") +
      `; use it in overlay mode (peftjs's default) or on a forked base, never next to other adapters on a base rewritten in place (PEFT's load_adapter does that); "peftjs convert" makes it a plain LoRA`,
  };
}

/** `peftjs verify`: does this adapter belong on this base? Exit 0 if so, 1 with the reason and remedy if not. */
export const verifyCommand: Command = {
  summary: "check that an adapter belongs on a base model (exit 0) or say why not (exit 1)",
  help: `Usage: peftjs verify --model DIR --adapter DIR [--strict] [--backend NAME] [--json]

Exit 0 when the adapter belongs on this base, 1 with the reason and the remedy when not. "Belongs" means:
  1. every module the adapter wraps exists in the base with matching shapes (lora_A [r, in], lora_B [out, r]);
  2. plain LoRA (init_lora_weights true / false / gaussian, converted PiSSA/OLoRA included): the base's
     fingerprint equals the one the adapter records (peftjs files); PEFT files record none, so for them
     only (1) can be checked;
  3. unconverted PiSSA / pissa_niter_K / OLoRA (config init_lora_weights "pissa" …; every loader re-runs
     the init on the base): the base must be the ORIGINAL one: the recorded fingerprint, or for PEFT files
     the subspace check (lora_A in the base's top-r right singular subspace; OLoRA: non-zero leading
     columns). On a residual base it fails: the init would subtract s·B₀A₀ a second time. Passing means
     overlay mode or a fork, never a shared base rewritten in place; --strict fails it instead;
  4. a PiSSA/OLoRA init adapter from "peftjs init" (A₀/B₀ with init_lora_weights true) belongs on its
     residual base only (the fingerprint it records).

Options:
  --model DIR       base model folder, or "embedded" (stories260K)
  --adapter DIR     the adapter folder
  --strict          accept only adapters that are plain LoRA for this base (fail case 3 and 4)
  --backend NAME    auto | js | wasm | gpu (default auto)
  --json            print {"ok": true, "model", "adapter", "fingerprint", "kind", "initMethod", "verified",
                    "note"}, or on failure {"ok": false, "model", "adapter", "error": {"name", "code", "message"}}
                    (exit 1 as without --json)

Whatever "logits" or "generate" would refuse to load is refused here too: verify loads the adapter with
the same code after its own rules.`,
  options: {
    model: { type: "string" },
    adapter: { type: "string" },
    strict: { type: "boolean" },
    backend: { type: "string" },
    json: { type: "boolean" },
  },
  files: { flags: { model: { kind: "model" }, adapter: { kind: "adapters" } } },
  async run(values) {
    const backend = parseBackendChoice(values.backend);
    const modelDir = modelLocation(values, "model");
    const adapterDir = parseAdapterSpecs([requiredString(values, "adapter")], { weights: "none" })[0]!.path;
    let report: VerifyReport;
    try {
      await setBackend(backend);
      const adapter = await readAdapterFolder(adapterDir);
      const base = await loadBaseModel(modelDir);
      const result = verifyAdapter(base, adapter, { strict: values.strict === true });
      report = { model: modelDir, adapter: adapterDir, ...result };
    } catch (error) {
      if (values.json && isPeftjsError(error)) {
        const failure: VerifyFailure = {
          ok: false,
          model: modelDir,
          adapter: adapterDir,
          error: { name: error.name, code: error.code, message: error.message },
        };
        console.log(JSON.stringify(failure, null, 2));
      }
      throw error;
    }
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else
      console.log(
        `${style.green("ok")}: ${printable(adapterDir)} belongs on ${printable(modelDir)}: ${report.note}`,
      );
  },
};
