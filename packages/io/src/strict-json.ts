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

/** An RFC 8259 number literal, matched where the parser stands. */
const numberPattern = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

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
  const parser = new StrictJsonParser(text);
  parser.skipWhitespace();
  const value = parser.parseValue(0);
  parser.skipWhitespace();
  if (parser.position < text.length) parser.fail("trailing characters");
  return value;
}

/**
 * The parser behind {@link parseStrictJson}, exported for the header scanner, which walks the top levels of a
 * header itself and uses this for the values it does not interpret ({@link StrictJsonParser.skipValue}
 * validates without building anything).
 */
export class StrictJsonParser {
  /** Index of the next character to read. */
  position = 0;

  constructor(readonly text: string) {}

  /** Throws {@link SafetensorsHeaderJsonError} for a syntax error at the current position. */
  fail(what: string): never {
    throw new SafetensorsHeaderJsonError(
      `invalid JSON in header: ${what} at character ${this.position} of ${this.text.length}`,
    );
  }

  /** Moves past JSON whitespace (space, tab, CR, LF). */
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

  /** Parses one value; `depth` counts the containers it sits in (serde_json's limit is 128). */
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

  /** Parses a number literal, keeping its text. */
  parseNumber(): JsonNumber {
    const start = this.position;
    this.skipNumber();
    return new JsonNumber(this.text.slice(start, this.position));
  }

  /** Moves past a number literal (RFC 8259 grammar) without keeping it. */
  skipNumber(): void {
    numberPattern.lastIndex = this.position;
    if (!numberPattern.test(this.text)) this.fail("invalid number");
    this.position = numberPattern.lastIndex;
  }

  /**
   * Checks one value at the position and moves past it, building nothing: the same grammar, errors and depth
   * limit as {@link StrictJsonParser.parseValue}, in constant memory (what a hostile header's skipped parts
   * cost).
   */
  skipValue(depth: number): void {
    if (this.position >= this.text.length) this.fail("unexpected end of input while parsing a value");
    const code = this.text.charCodeAt(this.position);
    if (code === 0x7b) this.parseMembers(depth + 1, () => this.skipValue(depth + 1));
    else if (code === 0x5b) this.parseItems(depth + 1, () => this.skipValue(depth + 1));
    else if (code === 0x22) this.skipString();
    else if (code === 0x2d || (code >= 0x30 && code <= 0x39)) this.skipNumber();
    else this.parseValue(depth);
  }

  /** Moves past a string literal, checking it as {@link StrictJsonParser.parseString} does. */
  skipString(): void {
    const text = this.text;
    this.position++;
    for (;;) {
      if (this.position >= text.length) this.fail("unterminated string");
      const code = text.charCodeAt(this.position);
      if (code === 0x22) {
        this.position++;
        return;
      }
      if (code < 0x20) this.fail("control character in string");
      this.position++;
      if (code === 0x5c) this.parseEscape();
    }
  }

  /** Parses a string literal (the position is at its opening quote). */
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

  /**
   * Walks an object's members (the position is at `{`; `depth` includes this object): for each one, reads
   * the key and the `:` and calls `visit(key)`, which must consume the value with this parser.
   */
  parseMembers(depth: number, visit: (key: string) => void): void {
    if (depth > maximumDepth) this.fail("recursion limit exceeded");
    this.position++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.position) === 0x7d) {
      this.position++;
      return;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text.charCodeAt(this.position) !== 0x22) this.fail("expected a string key");
      const key = this.parseString();
      this.skipWhitespace();
      if (this.text.charCodeAt(this.position) !== 0x3a) this.fail("expected `:`");
      this.position++;
      this.skipWhitespace();
      visit(key);
      this.skipWhitespace();
      const code = this.text.charCodeAt(this.position);
      this.position++;
      if (code === 0x7d) return;
      if (code !== 0x2c) {
        this.position--;
        this.fail("expected `,` or `}`");
      }
    }
  }

  /**
   * Walks an array's items (the position is at `[`; `depth` includes this array), calling `visit(index)`,
   * which must consume the item with this parser.
   */
  parseItems(depth: number, visit: (index: number) => void): void {
    if (depth > maximumDepth) this.fail("recursion limit exceeded");
    this.position++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.position) === 0x5d) {
      this.position++;
      return;
    }
    for (let index = 0; ; index++) {
      this.skipWhitespace();
      visit(index);
      this.skipWhitespace();
      const code = this.text.charCodeAt(this.position);
      this.position++;
      if (code === 0x5d) return;
      if (code !== 0x2c) {
        this.position--;
        this.fail("expected `,` or `]`");
      }
    }
  }

  /** Parses an array (the position is at `[`); `depth` includes this array. */
  parseArray(depth: number): JsonValue[] {
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
