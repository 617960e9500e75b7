import { readFile } from "node:fs/promises";
import { FileSystemError, JsonFileError } from "../safetensors-errors.js";
import { writeFileAtomic } from "./atomic-file.js";

/**
 * Reads a JSON file such as `config.json` or `adapter_config.json`. Every field is kept, known or not, so
 * `writeJsonFileAtomic(path, { ...await readJsonFile(path), r: 16 })` changes only `r`.
 * @throws FileSystemError when the file cannot be read, JsonFileError when it is not JSON
 */
export async function readJsonFile<T = unknown>(path: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new FileSystemError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new JsonFileError(`${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Writes `value` as JSON (2-space indentation, trailing newline, as transformers and PEFT write their
 * configs) atomically: readers see the old file or the new one, never half of one.
 * @throws JsonFileError when `value` cannot be serialized (cycles, BigInt)
 */
export async function writeJsonFileAtomic(
  path: string,
  value: unknown,
  options: { indent?: number } = {},
): Promise<void> {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, null, options.indent ?? 2);
  } catch (error) {
    throw new JsonFileError(`cannot serialize the value for ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (text === undefined) throw new JsonFileError(`cannot serialize ${typeof value} as JSON for ${path}`);
  await writeFileAtomic(path, `${text}\n`);
}
