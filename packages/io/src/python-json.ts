/**
 * JSON text as Python's `json.dumps(value, indent=2, sort_keys=True)` writes it (what transformers uses for
 * `model.safetensors.index.json`): ASCII only (`\uXXXX` escapes, lowercase hex), keys sorted by code point,
 * `": "` after keys, two-space indentation, `{}`/`[]` for empty containers.
 */
import { compareCodePoints } from "./layout.js";

/** A value that {@link pythonJson} can write. */
export type PythonJsonValue =
  | null
  | boolean
  | number
  | string
  | PythonJsonValue[]
  | { [key: string]: PythonJsonValue };

const shortEscapes: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f",
};

/** A string literal with Python's `ensure_ascii=True` escaping. */
export function pythonJsonString(text: string): string {
  // Everything outside printable ASCII (0x20-0x7E) is escaped, per UTF-16 unit (so astral characters become
  // surrogate pairs), as Python's ESCAPE_ASCII does.
  return `"${text.replace(/[^\x20-\x7e]|["\\]/g, (character) => {
    return shortEscapes[character] ?? `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`;
  })}"`;
}

/** Serializes like `json.dumps(value, indent=2, sort_keys=True)`; integers only for numbers. */
export function pythonJson(value: PythonJsonValue, indent = 2, level = 0): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new RangeError(`pythonJson writes integers only, got ${value}`);
    return String(value);
  }
  if (typeof value === "string") return pythonJsonString(value);
  const inner = " ".repeat(indent * (level + 1));
  const outer = " ".repeat(indent * level);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((item) => inner + pythonJson(item, indent, level + 1)).join(",\n")}\n${outer}]`;
  }
  const keys = Object.keys(value).sort(compareCodePoints);
  if (keys.length === 0) return "{}";
  const lines = keys.map(
    (key) =>
      `${inner}${pythonJsonString(key)}: ${pythonJson(value[key] as PythonJsonValue, indent, level + 1)}`,
  );
  return `{\n${lines.join(",\n")}\n${outer}}`;
}
