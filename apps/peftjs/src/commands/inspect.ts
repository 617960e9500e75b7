import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { CheckpointReader } from "@peftjs/io";
import { openCheckpoint, openSafetensorsFile, readJsonFile } from "@peftjs/io/node";
import {
  type AdapterRecord,
  adapterRecordFromMetadata,
  deriveAdapterRecord,
  type Fingerprint,
  fingerprintModel,
  fingerprintTensor,
} from "@peftjs/state";
import { embeddedModelDir } from "../assets.js";
import { CliUsageError } from "../cli-error.js";
import { printable, style } from "../terminal.js";
import type { Command } from "./command.js";

/** What `peftjs inspect --json` prints. */
export interface InspectReport {
  path: string;
  kind: "safetensors" | "adapter" | "model";
  tensors: { name: string; dtype: string; shape: number[] }[];
  metadata: Record<string, string> | null;
  /** Model fingerprint over every tensor (fp1, see @peftjs/state). */
  fingerprint: Fingerprint;
  /** The adapter's record (from its peftjs.* metadata, or derived from adapter_config.json). */
  adapter: AdapterRecord | null;
  /** Present when the adapter only gives the right model on a mutated (residual) base. */
  warning: string | null;
}

const adapterWeights = "adapter_model.safetensors";

async function openTarget(path: string): Promise<{ kind: InspectReport["kind"]; reader: CheckpointReader }> {
  const info = await stat(path).catch(() => {
    throw new CliUsageError(`${path} does not exist`);
  });
  if (info.isDirectory()) {
    const isAdapter = await stat(join(path, adapterWeights)).then(
      () => true,
      () => false,
    );
    const reader = await openCheckpoint(path, isAdapter ? { weightsName: adapterWeights } : {});
    return { kind: isAdapter ? "adapter" : "model", reader };
  }
  const file = await openSafetensorsFile(path);
  return {
    kind: "safetensors",
    reader: {
      tensors: file.header.tensors.map((tensor) => ({ ...tensor, fileName: path })),
      names: file.names,
      metadata: file.header.metadata,
      index: null,
      info: (name) => {
        const tensor = file.info(name);
        return tensor && { ...tensor, fileName: path };
      },
      read: (name) => file.read(name),
      readAll: () => file.readAll(),
      close: () => file.close(),
    },
  };
}

async function adapterRecordOf(path: string, metadata: Record<string, string> | null) {
  const fromMetadata = adapterRecordFromMetadata(metadata);
  if (fromMetadata !== null) return fromMetadata;
  return deriveAdapterRecord(await readJsonFile(join(path, "adapter_config.json")));
}

/** Builds the inspection report of a safetensors file, an adapter folder or a model folder. */
export async function inspectPath(path: string): Promise<InspectReport> {
  const { kind, reader } = await openTarget(path);
  try {
    const fingerprints: [string, Fingerprint][] = [];
    // One tensor in memory at a time: fingerprints are computed as the tensors are read.
    for (const name of reader.names) fingerprints.push([name, fingerprintTensor(await reader.read(name))]);
    const adapter = kind === "adapter" ? await adapterRecordOf(path, reader.metadata) : null;
    const warning = adapter?.needsMutatedBase
      ? `this adapter (init ${JSON.stringify(adapter.initMethod)}) only fits a base rewritten to W − s·B₀A₀; ` +
        "load it on a fork of the base, or convert it to LoRA with `peftjs convert`"
      : null;
    return {
      path,
      kind,
      tensors: reader.tensors.map((tensor) => ({
        name: tensor.name,
        dtype: tensor.dtype,
        shape: tensor.shape,
      })),
      metadata: reader.metadata,
      fingerprint: fingerprintModel(fingerprints),
      adapter,
      warning,
    };
  } finally {
    await reader.close();
  }
}

function printReport(report: InspectReport): void {
  console.log(`${style.bold(printable(report.path))} (${report.kind}, ${report.tensors.length} tensors)`);
  console.log(`fingerprint ${style.cyan(report.fingerprint)}`);
  const names = report.tensors.map((tensor) => printable(tensor.name));
  let width = 4;
  for (const name of names) width = Math.max(width, Math.min(name.length, 80));
  for (const [index, tensor] of report.tensors.entries()) {
    console.log(`  ${names[index]!.padEnd(width)}  ${tensor.dtype.padEnd(5)} [${tensor.shape.join(", ")}]`);
  }
  if (report.metadata !== null && Object.keys(report.metadata).length > 0) {
    console.log("metadata");
    for (const [key, value] of Object.entries(report.metadata)) {
      console.log(`  ${printable(key)} = ${printable(value)}`);
    }
  }
  if (report.adapter !== null) {
    const producer = report.adapter.producer;
    console.log(
      printable(
        `adapter ${report.adapter.kind}, init ${JSON.stringify(report.adapter.initMethod)}` +
          (producer ? `, written by ${producer.name} ${producer.version}` : "") +
          (report.adapter.baseFingerprint ? `, base ${report.adapter.baseFingerprint}` : ""),
      ),
    );
  }
  if (report.warning !== null) console.log(style.yellow(`warning: ${printable(report.warning)}`));
}

/** `peftjs inspect`: tensors, dtypes, shapes, metadata, adapter kind and fingerprint of a file or folder. */
export const inspectCommand: Command = {
  summary: "show the tensors, metadata, fingerprint and adapter kind of a file or folder",
  help: `Usage: peftjs inspect <file.safetensors | adapter folder | model folder | embedded> [--json]

Prints every tensor (name, dtype, shape), the safetensors metadata, the fingerprint over all tensors and,
for an adapter folder, its kind and init method, warning when it only fits a mutated (residual) base.
"embedded" is the stories260K model shipped with peftjs. Control characters in names and metadata are
printed as escapes (\n, \u001b, ...), never raw.

Options:
  --json   print {"tensors": [{"name", "dtype", "shape"}], "metadata", "fingerprint", "adapter", "warning"}`,
  options: { json: { type: "boolean" } },
  positionals: { min: 1, max: 1, name: "path" },
  files: { positionals: { kind: "input", embedded: true } },
  async run(values, positionals) {
    const path = positionals[0] as string;
    const report = await inspectPath(path === "embedded" ? embeddedModelDir : path);
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else printReport(report);
  },
};
