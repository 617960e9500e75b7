/**
 * A strict JSON parser with the semantics of Rust's serde_json, which the official safetensors library uses:
 * RFC 8259 grammar only, whitespace limited to space/tab/CR/LF, no trailing characters, lone surrogate
 * escapes rejected, nesting limited to 128 levels. Unlike `JSON.parse` it keeps repeated object keys (so the
 * caller can decide about duplicates) and keeps each number's literal text (so `16` and `16.0` differ, and
 * integers beyond 2^53 stay exact).
 */
import { SafetensorsHeaderJsonError } from "./safetensors-errors.js";

/** A JSON number, kept as its literal text. */
export class JsonNumber {
  constructor(readonly text: string) {}

  /** True for a literal made of digits only: a non-negative integer with no fraction or exponent. */
  isUnsignedInteger(): boolean {
    return /^(0|[1-9][0-9]*)$/.test(this.text);
  }
}

/** A JSON object as its list of entries, in source order, repeated keys included. */
export class JsonObject {
  constructor(readonly entries: Array<[string, JsonValue]>) {}
}

/** Any parsed JSON value. */
export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;

/** serde_json's default recursion limit. */
const maximumDepth = 128;

/** Describes a JSON value's type the way error messages name it ("a string", "an array", ...). */
export function describeJsonType(value: JsonValue): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return `boolean \`${value}\``;
  if (typeof value === "string") return `string ${JSON.stringify(truncate(value))}`;
  if (value instanceof JsonNumber) return `number \`${truncate(value.text)}\``;
  if (Array.isArray(value)) return "an array";
  return "an object";
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** Structural equality; numbers compare by value for integers and by literal text otherwise. */
export function jsonEquals(left: JsonValue, right: JsonValue): boolean {
  if (left === right) return true;
  if (left instanceof JsonNumber && right instanceof JsonNumber) {
    if (left.isUnsignedInteger() && right.isUnsignedInteger())
      return BigInt(left.text) === BigInt(right.text);
    return left.text === right.text;
  }
  if (Array.isArray(left) && Array.isArray(right)) {
    return (
      left.length === right.length && left.every((item, index) => jsonEquals(item, right[index] as JsonValue))
    );
  }
  if (left instanceof JsonObject && right instanceof JsonObject) {
    if (left.entries.length !== right.entries.length) return false;
    return left.entries.every(([key, value], index) => {
      const other = right.entries[index] as [string, JsonValue];
      return key === other[0] && jsonEquals(value, other[1]);
    });
  }
  return false;
}

/**
 * Parses `text` as one JSON value surrounded by optional whitespace.
 * @throws SafetensorsHeaderJsonError naming the offending character position.
 */
export function parseStrictJson(text: string): JsonValue {
  const parser = new Parser(text);
  parser.skipWhitespace();
  const value = parser.parseValue(0);
  parser.skipWhitespace();
  if (parser.position < text.length) parser.fail("trailing characters");
  return value;
}

class Parser {
  position = 0;

  constructor(private readonly text: string) {}

  fail(what: string): never {
    throw new SafetensorsHeaderJsonError(
      `invalid JSON in header: ${what} at character ${this.position} of ${this.text.length}`,
    );
  }

  skipWhitespace(): void {
    const text = this.text;
    let position = this.position;
    while (position < text.length) {
      const code = text.charCodeAt(position);
      if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) break;
      position++;
    }
    this.position = position;
  }

  parseValue(depth: number): JsonValue {
    if (this.position >= this.text.length) this.fail("unexpected end of input while parsing a value");
    const code = this.text.charCodeAt(this.position);
    switch (code) {
      case 0x7b:
        return this.parseObject(depth + 1);
      case 0x5b:
        return this.parseArray(depth + 1);
      case 0x22:
        return this.parseString();
      case 0x74:
        return this.parseLiteral("true", true);
      case 0x66:
        return this.parseLiteral("false", false);
      case 0x6e:
        return this.parseLiteral("null", null);
      default:
        if (code === 0x2d || (code >= 0x30 && code <= 0x39)) return this.parseNumber();
        return this.fail(`expected a value, found ${JSON.stringify(this.text[this.position])}`);
    }
  }

  private parseLiteral<T extends JsonValue>(word: string, value: T): T {
    if (this.text.startsWith(word, this.position)) {
      this.position += word.length;
      return value;
    }
    return this.fail(`expected \`${word}\``);
  }

  private parseNumber(): JsonNumber {
    const match = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    match.lastIndex = this.position;
    const found = match.exec(this.text);
    if (found === null) return this.fail("invalid number");
    this.position += found[0].length;
    return new JsonNumber(found[0]);
  }

  parseString(): string {
    const text = this.text;
    this.position++; // opening quote
    let start = this.position;
    let result = "";
    for (;;) {
      if (this.position >= text.length) this.fail("unterminated string");
      const code = text.charCodeAt(this.position);
      if (code === 0x22) {
        result += text.slice(start, this.position);
        this.position++;
        return result;
      }
      if (code < 0x20) this.fail("control character in string");
      if (code !== 0x5c) {
        this.position++;
        continue;
      }
      result += text.slice(start, this.position);
      this.position++;
      result += this.parseEscape();
      start = this.position;
    }
  }

  private parseEscape(): string {
    const escaped = this.text[this.position];
    this.position++;
    switch (escaped) {
      case '"':
        return '"';
      case "\\":
        return "\\";
      case "/":
        return "/";
      case "b":
        return "\b";
      case "f":
        return "\f";
      case "n":
        return "\n";
      case "r":
        return "\r";
      case "t":
        return "\t";
      case "u": {
        const unit = this.parseHex4();
        if (unit >= 0xdc00 && unit <= 0xdfff) this.fail("lone trailing surrogate in hex escape");
        if (unit < 0xd800 || unit > 0xdbff) return String.fromCharCode(unit);
        if (
          this.text.charCodeAt(this.position) !== 0x5c ||
          this.text.charCodeAt(this.position + 1) !== 0x75
        ) {
          this.fail("lone leading surrogate in hex escape");
        }
        this.position += 2;
        const low = this.parseHex4();
        if (low < 0xdc00 || low > 0xdfff) this.fail("lone leading surrogate in hex escape");
        return String.fromCharCode(unit, low);
      }
      default:
        return this.fail("invalid escape");
    }
  }

  private parseHex4(): number {
    const digits = this.text.slice(this.position, this.position + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) this.fail("invalid \\u escape");
    this.position += 4;
    return Number.parseInt(digits, 16);
  }

  private parseArray(depth: number): JsonValue[] {
    if (depth > maximumDepth) this.fail("recursion limit exceeded");
    this.position++;
    const items: JsonValue[] = [];
    this.skipWhitespace();
    if (this.text.charCodeAt(this.position) === 0x5d) {
      this.position++;
      return items;
    }
    for (;;) {
      this.skipWhitespace();
      items.push(this.parseValue(depth));
      this.skipWhitespace();
      const code = this.text.charCodeAt(this.position);
      this.position++;
      if (code === 0x5d) return items;
      if (code !== 0x2c) {
        this.position--;
        this.fail("expected `,` or `]`");
      }
    }
  }

  private parseObject(depth: number): JsonObject {
    if (depth > maximumDepth) this.fail("recursion limit exceeded");
    this.position++;
    const entries: Array<[string, JsonValue]> = [];
    this.skipWhitespace();
    if (this.text.charCodeAt(this.position) === 0x7d) {
      this.position++;
      return new JsonObject(entries);
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text.charCodeAt(this.position) !== 0x22) this.fail("expected a string key");
      const key = this.parseString();
      this.skipWhitespace();
      if (this.text.charCodeAt(this.position) !== 0x3a) this.fail("expected `:`");
      this.position++;
      this.skipWhitespace();
      entries.push([key, this.parseValue(depth)]);
      this.skipWhitespace();
      const code = this.text.charCodeAt(this.position);
      this.position++;
      if (code === 0x7d) return new JsonObject(entries);
      if (code !== 0x2c) {
        this.position--;
        this.fail("expected `,` or `}`");
      }
    }
  }
}
