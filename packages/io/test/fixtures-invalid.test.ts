import { describe, expect, it } from "vitest";
import {
  deserialize,
  isPeftjsError,
  openSafetensors,
  SafetensorsDuplicateKeyError,
  type SafetensorsError,
  SafetensorsHeaderEncodingError,
  SafetensorsHeaderJsonError,
  SafetensorsHeaderLengthError,
  SafetensorsHeaderSchemaError,
  SafetensorsHeaderTooLargeError,
  SafetensorsHeaderTooSmallError,
  SafetensorsIncompleteDataError,
  SafetensorsInvalidOffsetError,
  SafetensorsShapeOverflowError,
  SafetensorsTensorSizeError,
  SafetensorsUnknownDtypeError,
} from "../src/index.js";
import { openSafetensorsFile } from "../src/node.js";
import { fixtureBytes, fixtureJson, fixturesFolder, invalidFixtureNames } from "./helpers.js";

type ErrorClass = abstract new (...args: never[]) => SafetensorsError;

/**
 * Our verdict per file. The official verdict is the one of `safe_open` + `get_tensor` (recorded in each
 * JSON); the test checks that we accept exactly what it accepts. For rejections the class is the kind that
 * matches the official message. One deliberate difference in kind: `duplicate_keys` (the key a twice with
 * different entries) fails officially with "invalid offset for tensor `a`" because serde keeps the last
 * entry; we report it as what it is, a duplicate key.
 */
const verdicts: Record<string, ErrorClass | "accept"> = {
  bool_value_2: "accept",
  data_offsets_out_of_bounds: SafetensorsIncompleteDataError,
  duplicate_keys: SafetensorsDuplicateKeyError,
  duplicate_keys_identical: "accept",
  empty_file: SafetensorsHeaderTooSmallError,
  empty_header_object: "accept",
  empty_name: "accept",
  extra_field_in_tensor: "accept",
  float_offsets: SafetensorsHeaderSchemaError,
  gap_at_start: SafetensorsInvalidOffsetError,
  gap_between_tensors: SafetensorsInvalidOffsetError,
  header_json_array: SafetensorsHeaderSchemaError,
  header_length_exceeds_file: SafetensorsHeaderLengthError,
  header_length_zero: SafetensorsHeaderJsonError,
  header_not_8_aligned: "accept",
  header_not_json: SafetensorsHeaderJsonError,
  header_padded_with_nul: SafetensorsHeaderJsonError,
  header_too_large: SafetensorsHeaderTooLargeError,
  header_with_leading_space: "accept",
  header_with_trailing_spaces: "accept",
  lowercase_dtype: SafetensorsUnknownDtypeError,
  metadata_is_null: "accept",
  metadata_non_string_value: SafetensorsHeaderSchemaError,
  missing_data_offsets: SafetensorsHeaderSchemaError,
  negative_offset: SafetensorsHeaderSchemaError,
  negative_shape: SafetensorsHeaderSchemaError,
  non_utf8_header: SafetensorsHeaderEncodingError,
  overlapping_offsets: SafetensorsInvalidOffsetError,
  reversed_offsets: SafetensorsInvalidOffsetError,
  shape_overflow: SafetensorsShapeOverflowError,
  shape_size_mismatch: SafetensorsTensorSizeError,
  trailing_bytes_after_data: SafetensorsIncompleteDataError,
  truncated_header: SafetensorsHeaderLengthError,
  truncated_length_prefix: SafetensorsHeaderTooSmallError,
  unknown_dtype: SafetensorsUnknownDtypeError,
  unsorted_offsets: "accept",
};

interface OfficialResult {
  ok: boolean;
  message?: string;
  tensors?: Record<string, { shape: number[] }>;
  metadata?: Record<string, string> | null;
}

const officialApi = "safe_open(pt) + get_tensor(each) + metadata()";

it("has a verdict for every invalid/ fixture", () => {
  expect(Object.keys(verdicts).sort()).toEqual(invalidFixtureNames);
});

describe.each(invalidFixtureNames)("invalid/%s", (fixture) => {
  const official = fixtureJson<{ results: Record<string, OfficialResult> }>(`invalid/${fixture}.json`)
    .results[officialApi] as OfficialResult;
  const verdict = verdicts[fixture];
  const bytes = fixtureBytes(`invalid/${fixture}.safetensors`);

  it("matches the official verdict", () => {
    expect(verdict === "accept").toBe(official.ok);
  });

  if (verdict === "accept") {
    it("is accepted with the tensors and metadata the official library sees", async () => {
      const { tensors, metadata } = deserialize(bytes);
      expect(
        Object.fromEntries([...tensors].map(([name, tensor]) => [name, { shape: tensor.shape }])),
      ).toEqual(
        Object.fromEntries(
          Object.entries(official.tensors ?? {}).map(([name, t]) => [name, { shape: t.shape }]),
        ),
      );
      expect(metadata).toEqual(official.metadata ?? null);
      const reader = await openSafetensorsFile(`${fixturesFolder}/invalid/${fixture}.safetensors`);
      for (const name of reader.names)
        expect((await reader.read(name)).data).toEqual(tensors.get(name)?.data);
      await reader.close();
    });
  } else {
    it(`is rejected with ${verdict?.name} by every reading path`, async () => {
      const attempts: Array<() => unknown> = [
        () => deserialize(bytes),
        () => openSafetensors(bytes),
        () => openSafetensors(new Blob([bytes])),
        () => openSafetensorsFile(`${fixturesFolder}/invalid/${fixture}.safetensors`),
      ];
      for (const attempt of attempts) {
        let caught: unknown;
        try {
          await attempt();
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(verdict as ErrorClass);
        expect(isPeftjsError(caught)).toBe(true);
        expect((caught as Error).name).toBe(verdict?.name);
      }
    });
  }
});
