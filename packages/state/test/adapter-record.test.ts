import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ADAPTER_METADATA_KEYS,
  type AdapterRecord,
  adapterRecordFromMetadata,
  adapterRecordToMetadata,
  deriveAdapterRecord,
  InvalidAdapterRecordError,
  initMethodMutatesBase,
  validateAdapterRecord,
} from "../src/index.js";

const config = (file: string): unknown =>
  JSON.parse(readFileSync(new URL(`./fixtures/peft/${file}.adapter_config.json`, import.meta.url), "utf8"));

const residualRecord: AdapterRecord = {
  name: "pissa",
  kind: "lora",
  initMethod: "pissa_niter_4",
  needsMutatedBase: true,
  baseFingerprint: `fp1:${"a".repeat(32)}`,
  residualBaseFingerprint: `fp1:${"b".repeat(32)}`,
  convertedFrom: null,
  producer: { name: "peftjs", version: "0.1.0" },
};

describe("deriveAdapterRecord from PEFT's adapter_config.json", () => {
  it.each([
    ["lora_default_adapter_trained", true, false],
    ["lora_gaussian_rslora_adapter_trained", "gaussian", false],
    ["pissa_adapter_trained", "pissa", true],
    ["pissa_niter_4_adapter_trained", "pissa_niter_4", true],
    ["olora_adapter_trained", "olora", true],
    ["pissa_adapter_init", true, false],
    ["pissa_adapter_converted", true, false],
  ])("%s: init %j, needs a mutated base: %j", (file, initMethod, needsMutatedBase) => {
    expect(deriveAdapterRecord(config(file), { name: "x" })).toEqual({
      name: "x",
      kind: "lora",
      initMethod,
      needsMutatedBase,
      baseFingerprint: null,
      residualBaseFingerprint: null,
      convertedFrom: null,
      producer: { name: "peft", version: "0.21.0" },
    });
  });

  it("uses PEFT's defaults: name default, init true", () => {
    expect(deriveAdapterRecord({ peft_type: "LORA", r: 8 })).toMatchObject({
      name: "default",
      initMethod: true,
      needsMutatedBase: false,
      producer: null,
    });
  });

  it("refuses other PEFT methods and malformed configs", () => {
    expect(() => deriveAdapterRecord({ peft_type: "IA3" })).toThrow(
      'invalid adapter record: peft_type "IA3" is not "LORA"; only LoRA adapters are described',
    );
    expect(() => deriveAdapterRecord([])).toThrow(InvalidAdapterRecordError);
    expect(() => deriveAdapterRecord({ init_lora_weights: 3 })).toThrow(/init_lora_weights 3/);
  });
});

describe("initMethodMutatesBase", () => {
  it.each([
    [true, false],
    [false, false],
    ["gaussian", false],
    ["eva", false],
    ["orthogonal", false],
    ["pissa", true],
    ["pissa_niter_16", true],
    ["olora", true],
    ["corda", true],
    ["loftq", true],
    ["some_future_init", true],
  ] as const)("%j → %j", (initMethod, mutates) => {
    expect(initMethodMutatesBase(initMethod)).toBe(mutates);
  });
});

describe("peftjs.* metadata", () => {
  it("round-trips a record through string-valued metadata", () => {
    const metadata = adapterRecordToMetadata(residualRecord);
    expect(metadata).toEqual({
      "peftjs.record_version": "1",
      "peftjs.adapter_name": "pissa",
      "peftjs.kind": "lora",
      "peftjs.init_method": '"pissa_niter_4"',
      "peftjs.needs_mutated_base": "true",
      "peftjs.base_fingerprint": residualRecord.baseFingerprint,
      "peftjs.residual_base_fingerprint": residualRecord.residualBaseFingerprint,
      "peftjs.producer": "peftjs",
      "peftjs.producer_version": "0.1.0",
    });
    expect(Object.values(metadata).every((value) => typeof value === "string")).toBe(true);
    expect(adapterRecordFromMetadata({ format: "pt", ...metadata })).toEqual(residualRecord);
    const converted: AdapterRecord = {
      ...residualRecord,
      initMethod: true,
      needsMutatedBase: false,
      residualBaseFingerprint: null,
      convertedFrom: "pissa",
      producer: null,
    };
    expect(adapterRecordFromMetadata(adapterRecordToMetadata(converted))).toEqual(converted);
  });

  it("returns null for files without a record (PEFT's { format: pt })", () => {
    expect(adapterRecordFromMetadata({ format: "pt" })).toBeNull();
    expect(adapterRecordFromMetadata(null)).toBeNull();
  });

  it("rejects malformed or future records with every problem named", () => {
    const metadata = adapterRecordToMetadata(residualRecord);
    expect(() => adapterRecordFromMetadata({ ...metadata, [ADAPTER_METADATA_KEYS.version]: "2" })).toThrow(
      /peftjs.record_version is "2"; this version reads "1"/,
    );
    expect(() =>
      adapterRecordFromMetadata({
        ...metadata,
        "peftjs.needs_mutated_base": "yes",
        "peftjs.init_method": "pissa",
      }),
    ).toThrow(
      'invalid adapter record: peftjs.needs_mutated_base "yes" is not "true" or "false"; peftjs.init_method "pissa" is not JSON',
    );
    expect(() => adapterRecordFromMetadata({ ...metadata, "peftjs.base_fingerprint": "sha:1" })).toThrow(
      /baseFingerprint "sha:1" is not null or "fp1:<32 hex digits>"/,
    );
  });
});

describe("validateAdapterRecord", () => {
  it("accepts a valid record and returns a copy", () => {
    const valid = validateAdapterRecord(residualRecord);
    expect(valid).toEqual(residualRecord);
    expect(valid).not.toBe(residualRecord);
  });

  it("lists every problem", () => {
    const error = (() => {
      try {
        validateAdapterRecord({
          ...residualRecord,
          name: "",
          kind: "ia3",
          needsMutatedBase: false,
          convertedFrom: 5,
          producer: { name: "x" },
        });
      } catch (caught) {
        return caught as InvalidAdapterRecordError;
      }
      throw new Error("expected a throw");
    })();
    expect(error).toBeInstanceOf(InvalidAdapterRecordError);
    expect(error.problems).toEqual([
      'name "" is not a non-empty string',
      'kind "ia3" is not "lora"',
      "convertedFrom 5 is not null or a method name",
      'producer {"name":"x"} is not null or { name, version } strings',
      "residualBaseFingerprint is set but needsMutatedBase is false",
    ]);
  });

  it("a converted adapter cannot need a mutated base", () => {
    expect(() => validateAdapterRecord({ ...residualRecord, convertedFrom: "pissa" })).toThrow(
      /a converted adapter \(from "pissa"\) applies to the original base/,
    );
  });
});
