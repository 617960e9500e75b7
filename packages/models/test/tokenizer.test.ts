import { readFileSync } from "node:fs";
import { isPeftjsError } from "@peftjs/io";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  filesModelSource,
  Llama2cTokenizer,
  loadTokenizerFromSource,
  TokenIdError,
  TokenizerFormatError,
  TokenizerNotFoundError,
} from "../src/index.js";

/** llama2.c's fixed ids of BOS and EOS. */
const BOS_TOKEN_ID = 1;
const EOS_TOKEN_ID = 2;

const fixtures = new URL("./fixtures/stories260k/", import.meta.url);
const tokenizerBytes = new Uint8Array(readFileSync(new URL("tok512.bin", fixtures)));
const reference = JSON.parse(readFileSync(new URL("reference.json", fixtures), "utf8")) as {
  greedy_token_ids: number[];
  text: string;
  pieces: string[];
};
const tokenizer = Llama2cTokenizer.fromBytes(tokenizerBytes);

/** Builds a tokenizer file from (piece, score) records. */
function tokenizerFile(records: readonly [string, number][], maxTokenLength = 8): Uint8Array {
  const encoder = new TextEncoder();
  const parts = records.map(([piece, score]) => {
    const bytes = encoder.encode(piece);
    const record = new Uint8Array(8 + bytes.length);
    const view = new DataView(record.buffer);
    view.setFloat32(0, score, true);
    view.setInt32(4, bytes.length, true);
    record.set(bytes, 8);
    return record;
  });
  const header = new Uint8Array(4);
  new DataView(header.buffer).setInt32(0, maxTokenLength, true);
  const all = [header, ...parts];
  const out = new Uint8Array(all.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of all) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

describe("Llama2cTokenizer reading tok512.bin", () => {
  it("reads the header and all 512 records", () => {
    expect(tokenizer.maxTokenLength).toBe(7);
    expect(tokenizer.vocabSize).toBe(512);
    expect(new TextDecoder().decode(tokenizer.piece(BOS_TOKEN_ID))).toBe("\n<s>\n");
    expect(new TextDecoder().decode(tokenizer.piece(3))).toBe("<0x00>");
    expect(tokenizer.lookup(" Once")).toBe(403);
    expect(tokenizer.score(260)).toBe(-1);
  });

  it("reads only vocabSize records when given", () => {
    expect(Llama2cTokenizer.fromBytes(tokenizerBytes, 300).vocabSize).toBe(300);
  });

  it("rejects truncated files with the offending offset", () => {
    expect(() => Llama2cTokenizer.fromBytes(tokenizerBytes.subarray(0, 2))).toThrow(TokenizerFormatError);
    expect(() => Llama2cTokenizer.fromBytes(tokenizerBytes.subarray(0, 110))).toThrow(
      /token 7: 6 bytes at byte 108 run past the end of the 110-byte file/,
    );
    expect(() => Llama2cTokenizer.fromBytes(tokenizerBytes, 513)).toThrow(/token 512: record header/);
  });

  it("rejects ids outside the vocabulary", () => {
    expect(() => tokenizer.decodePiece(undefined, 512)).toThrow(TokenIdError);
    expect(() => tokenizer.decode([5, -1])).toThrow(/token id -1 is outside the vocabulary \[0, 512\)/);
    try {
      tokenizer.piece(1.5);
    } catch (error) {
      expect(isPeftjsError(error)).toBe(true);
    }
  });
});

describe("encode (run.c semantics)", () => {
  it("adds the dummy prefix and merges by best score", () => {
    // " "+"O" -> " O" (score -60) beats "ce" (-72); then " On" (-62), "ce", " Once" (-144).
    expect(tokenizer.encode("Once upon a time")).toEqual([BOS_TOKEN_ID, 403, 407, 261, 378]);
    expect(tokenizer.encode("Once upon a time", { eos: true }).at(-1)).toBe(EOS_TOKEN_ID);
  });

  it("gives only BOS/EOS for empty text (no dummy prefix)", () => {
    expect(tokenizer.encode("", { addSpecialTokens: false })).toEqual([]);
    expect(tokenizer.encode("", { eos: true })).toEqual([BOS_TOKEN_ID, EOS_TOKEN_ID]);
  });

  it("falls back to byte tokens (byte + 3) for code points not in the vocabulary", () => {
    // U+1F600 is F0 9F 98 80 in UTF-8; " " (410) is the dummy prefix.
    expect(tokenizer.encode("😀", { addSpecialTokens: false })).toEqual([
      410,
      0xf0 + 3,
      0x9f + 3,
      0x98 + 3,
      0x80 + 3,
    ]);
    expect(tokenizer.decode(tokenizer.encode("😀"))).toBe("😀");
  });

  it("looks multi-byte code points up whole", () => {
    // "™" (E2 84 A2) is a token of its own in tok512.
    const trademark = tokenizer.lookup("™")!;
    expect(trademark).toBeGreaterThan(258);
    expect(tokenizer.encode("™", { addSpecialTokens: false })).toEqual([410, trademark]);
  });

  it("merges the leftmost pair on equal scores, as run.c's strict comparison", () => {
    const toy = Llama2cTokenizer.fromBytes(
      tokenizerFile([
        ["<unk>", 0],
        ["<s>", 0],
        ["</s>", 0],
        [" ", -1],
        ["a", -1],
        ["b", -1],
        [" a", -2],
        ["ab", -2],
      ]),
    );
    // "ab" -> [" ", "a", "b"]: " a" (index 0) and "ab" (index 1) tie at -2; the leftmost merges first.
    expect(toy.encode("ab", { addSpecialTokens: false })).toEqual([6, 5]);
    // A lower score loses to a higher one wherever it is.
    expect(toy.encode("a", { addSpecialTokens: false })).toEqual([6]);
  });

  it("round-trips the reference story through encode and decode", () => {
    const ids = tokenizer.encode(reference.text);
    expect(ids[0]).toBe(BOS_TOKEN_ID);
    expect(tokenizer.decode(ids)).toBe(reference.text);
  });

  it("round-trips arbitrary Unicode text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 40 }), (text) => {
        const withoutNul = text.replaceAll("\0", "");
        expect(tokenizer.decode(tokenizer.encode(withoutNul))).toBe(withoutNul);
      }),
      { numRuns: 200 },
    );
  });
});

/**
 * run.c's `encode()` merge loop written literally (scan every adjacent pair, keep the strictly best score,
 * merge, rescan): the O(n²) reference the tokenizer's heap-based merge must reproduce token for token.
 */
function referenceEncode(model: Llama2cTokenizer, text: string): number[] {
  const keys = Array.from({ length: model.vocabSize }, (_, id) => String.fromCharCode(...model.piece(id)));
  const idByKey = new Map<string, number>();
  keys.forEach((key, id) => {
    if (!idByKey.has(key)) idByKey.set(key, id);
  });
  const tokens: number[] = text.length > 0 ? [model.lookup(" ")!] : []; // run.c's dummy prefix
  for (const codePoint of text) {
    const id = model.lookup(codePoint);
    if (id !== undefined) tokens.push(id);
    else for (const byte of new TextEncoder().encode(codePoint)) tokens.push(byte + 3);
  }
  for (;;) {
    let bestScore = -1e10;
    let bestId = -1;
    let bestIndex = -1;
    for (let index = 0; index + 1 < tokens.length; index++) {
      const id = idByKey.get(keys[tokens[index]!]! + keys[tokens[index + 1]!]!);
      if (id !== undefined && model.score(id) > bestScore) {
        bestScore = model.score(id);
        bestId = id;
        bestIndex = index;
      }
    }
    if (bestIndex === -1) return tokens;
    tokens.splice(bestIndex, 2, bestId);
  }
}

describe("encode's heap-based merge equals run.c's quadratic loop", () => {
  it("on the reference story, on long text and on arbitrary Unicode", () => {
    const cases = [
      "Once upon a time",
      reference.text,
      reference.text.repeat(12), // about 10k characters, the size that took seconds with the quadratic loop
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "  spaces   and\ttabs\nand newlines\n\n😀 emoji ™ Ünïcödé",
    ];
    for (const text of cases) {
      expect(tokenizer.encode(text, { addSpecialTokens: false })).toEqual(referenceEncode(tokenizer, text));
    }
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 60 }), (text) => {
        const withoutNul = text.replaceAll("\0", "");
        expect(tokenizer.encode(withoutNul, { addSpecialTokens: false })).toEqual(
          referenceEncode(tokenizer, withoutNul),
        );
      }),
      { numRuns: 200 },
    );
  });
});

describe("decode (run.c semantics)", () => {
  it("reproduces the reference text of the 200 greedy tokens", () => {
    expect(tokenizer.decode([BOS_TOKEN_ID, ...reference.greedy_token_ids])).toBe(reference.text);
    expect(tokenizer.decode(reference.greedy_token_ids, { previousToken: BOS_TOKEN_ID })).toBe(
      reference.text,
    );
  });

  it("gives the reference pieces", () => {
    const pieces = reference.greedy_token_ids
      .slice(0, reference.pieces.length)
      .map((id, index, ids) =>
        new TextDecoder().decode(tokenizer.decodePiece(index === 0 ? BOS_TOKEN_ID : ids[index - 1], id)),
      );
    expect(pieces).toEqual(reference.pieces);
  });

  it("strips the leading space only after BOS and maps byte tokens to raw bytes", () => {
    expect(new TextDecoder().decode(tokenizer.decodePiece(BOS_TOKEN_ID, 403))).toBe("Once");
    expect(new TextDecoder().decode(tokenizer.decodePiece(5, 403))).toBe(" Once");
    expect(tokenizer.decodePiece(undefined, 0x0a + 3)).toEqual(Uint8Array.of(0x0a));
    expect(tokenizer.decodePiece(undefined, 0xff + 3)).toEqual(Uint8Array.of(0xff));
  });

  it("keeps special pieces when asked", () => {
    expect(tokenizer.decode([BOS_TOKEN_ID, 403], { skipSpecialTokens: false })).toBe("\n<s>\nOnce");
  });
});

describe("loadTokenizerFromSource without a readable tokenizer", () => {
  it("names tokenizer.model and the missing tokenizer.json for a SentencePiece-only checkpoint", async () => {
    const source = filesModelSource({ "tokenizer.model": new Uint8Array([10, 0]) }, "llama-2-slow");
    const error = await loadTokenizerFromSource(source).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TokenizerNotFoundError);
    expect((error as TokenizerNotFoundError).code).toBe("tokenizer_not_found");
    expect((error as Error).message).toMatch(
      /llama-2-slow has only a SentencePiece tokenizer\.model, which peftjs does not read; tokenizer\.json is missing/,
    );
    const empty = await loadTokenizerFromSource(filesModelSource({}, "empty")).catch(
      (caught: unknown) => caught,
    );
    expect((empty as Error).message).toBe(
      "empty has no tokenizer: looked for tokenizer.json, tok512.bin, tokenizer.bin",
    );
  });
});
