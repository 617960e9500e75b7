import { TokenIdError, TokenizerFormatError } from "../errors.js";
import { mergeBestPairs } from "./bpe-merge-queue.js";
import type {
  SpecialTokenIds,
  Tokenizer,
  TokenizerDecodeOptions,
  TokenizerEncodeOptions,
} from "./tokenizer.js";

/** Options of {@link Llama2cTokenizer.encode}. */
export interface Llama2cEncodeOptions extends TokenizerEncodeOptions {
  /** Append the end-of-sequence token (id 2). Default `false`. */
  readonly eos?: boolean;
}

/** Options of {@link Llama2cTokenizer.decode} and {@link Llama2cTokenizer.decodeBytes}. */
export interface Llama2cDecodeOptions extends TokenizerDecodeOptions {
  /**
   * The token that preceded `ids[0]` (it decides whether the first piece loses its leading space).
   * Default: none.
   */
  readonly previousToken?: number;
}

/** llama2.c vocabularies put `<unk>`, BOS and EOS at ids 0, 1, 2 (run.c hard-codes them). */
const UNKNOWN_TOKEN_ID = 0;
const BOS_TOKEN_ID = 1;
const EOS_TOKEN_ID = 2;
/** Byte tokens `<0x00>`..`<0xFF>` start at this id (byte fallback: id = byte + 3). */
const BYTE_TOKEN_OFFSET = 3;
/** run.c starts the merge search below every real score. */
const INITIAL_BEST_SCORE = -1e10;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8");

/** Key of a byte string in the lookup map (latin-1 mapping keeps byte identity and is cheap). */
function byteKey(bytes: Uint8Array): string {
  let key = "";
  for (const byte of bytes) key += String.fromCharCode(byte);
  return key;
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** True for a UTF-8 continuation byte (10xxxxxx). */
function isContinuationByte(byte: number | undefined): boolean {
  return byte !== undefined && (byte & 0xc0) === 0x80;
}

/**
 * Parses a `<0xXX>` piece as run.c's `sscanf(piece, "<0x%02hhX>", ...)` does: `<0x` then one or two hex digits.
 * Returns the byte value, or `undefined` when the piece is not a byte token.
 */
function parseByteToken(piece: Uint8Array): number | undefined {
  // "<0x" = 0x3c 0x30 0x78
  if (piece.length < 4 || piece[0] !== 0x3c || piece[1] !== 0x30 || piece[2] !== 0x78) return undefined;
  let value = 0;
  let digits = 0;
  for (let index = 3; index < piece.length && digits < 2; index++) {
    const digit = Number.parseInt(String.fromCharCode(piece[index]!), 16);
    if (Number.isNaN(digit)) break;
    value = value * 16 + digit;
    digits++;
  }
  return digits === 0 ? undefined : value;
}

/**
 * The tokenizer of Andrej Karpathy's llama2.c (`tokenizer.bin`, `tok512.bin`, ...), a byte-level BPE over
 * SentencePiece-style pieces with byte fallback. {@link encode} and {@link decode} follow `run.c` exactly:
 * same dummy prefix, same UTF-8 handling, same greedy merge order, same byte-token decoding.
 *
 * File format: int32 `max_token_length`, then for each token a float32 score, an int32 byte length and the
 * bytes (all little-endian).
 */
export class Llama2cTokenizer implements Tokenizer {
  /** The longest piece the file declares, in bytes. */
  readonly maxTokenLength: number;
  /** Number of tokens. */
  readonly vocabSize: number;
  /** `<unk>` 0, BOS 1, EOS 2, as run.c; no padding token. */
  readonly specialTokens: SpecialTokenIds = Object.freeze({
    bos: BOS_TOKEN_ID,
    eos: Object.freeze([EOS_TOKEN_ID]),
    pad: undefined,
    unk: UNKNOWN_TOKEN_ID,
  });
  private readonly pieces: Uint8Array[];
  private readonly scores: Float32Array;
  private readonly idByPiece = new Map<string, number>();
  /** `byteKey` of every piece, computed once (the merge loop concatenates them). */
  private readonly pieceKeys: string[];

  private constructor(maxTokenLength: number, pieces: Uint8Array[], scores: Float32Array) {
    this.maxTokenLength = maxTokenLength;
    this.vocabSize = pieces.length;
    this.pieces = pieces;
    this.scores = scores;
    this.pieceKeys = pieces.map(byteKey);
    this.pieceKeys.forEach((key, id) => {
      // run.c looks pieces up by binary search; with duplicates the first id is as good as any.
      if (!this.idByPiece.has(key)) this.idByPiece.set(key, id);
    });
  }

  /**
   * Reads a llama2.c tokenizer file.
   *
   * @param bytes the file's content.
   * @param vocabSize how many tokens to read (run.c takes it from the model); by default every record up to
   *   the end of the file.
   * @throws TokenizerFormatError when the file is truncated or a record is invalid.
   */
  static fromBytes(bytes: Uint8Array | ArrayBuffer, vocabSize?: number): Llama2cTokenizer {
    const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (data.byteLength < 4) {
      throw new TokenizerFormatError(
        `tokenizer file has ${data.byteLength} bytes, fewer than the 4-byte max_token_length header`,
      );
    }
    const maxTokenLength = view.getInt32(0, true);
    if (maxTokenLength < 0) throw new TokenizerFormatError(`max_token_length is negative: ${maxTokenLength}`);
    if (vocabSize !== undefined && !(Number.isInteger(vocabSize) && vocabSize > 0)) {
      throw new TokenizerFormatError(`vocabSize must be a positive integer, got ${vocabSize}`);
    }
    const pieces: Uint8Array[] = [];
    const scores: number[] = [];
    let offset = 4;
    while (vocabSize === undefined ? offset < data.byteLength : pieces.length < vocabSize) {
      const id = pieces.length;
      if (offset + 8 > data.byteLength) {
        throw new TokenizerFormatError(
          `token ${id}: record header at byte ${offset} needs 8 bytes but the file ends at ${data.byteLength}`,
        );
      }
      const score = view.getFloat32(offset, true);
      const length = view.getInt32(offset + 4, true);
      offset += 8;
      if (length < 0)
        throw new TokenizerFormatError(`token ${id}: negative length ${length} at byte ${offset - 4}`);
      if (offset + length > data.byteLength) {
        throw new TokenizerFormatError(
          `token ${id}: ${length} bytes at byte ${offset} run past the end of the ${data.byteLength}-byte file`,
        );
      }
      pieces.push(data.slice(offset, offset + length));
      scores.push(score);
      offset += length;
    }
    if (pieces.length <= EOS_TOKEN_ID) {
      throw new TokenizerFormatError(
        `tokenizer has ${pieces.length} tokens; llama2.c needs at least <unk>, BOS and EOS (ids 0..2)`,
      );
    }
    return new Llama2cTokenizer(maxTokenLength, pieces, Float32Array.from(scores));
  }

  /** The raw bytes of token `id` (a copy). */
  piece(id: number): Uint8Array {
    return this.checkedPiece(id).slice();
  }

  /** The merge score of token `id`. */
  score(id: number): number {
    this.checkedPiece(id);
    return this.scores[id]!;
  }

  /** The id of the token whose bytes are exactly `piece` (a string is UTF-8 encoded), or `undefined`. */
  lookup(piece: string | Uint8Array): number | undefined {
    return this.idByPiece.get(byteKey(typeof piece === "string" ? utf8Encoder.encode(piece) : piece));
  }

  /** The piece of `id` as text (`"<0x0A>"` for byte tokens, as the file spells them), or `undefined`. */
  idToToken(id: number): string | undefined {
    const piece = Number.isInteger(id) ? this.pieces[id] : undefined;
    return piece === undefined ? undefined : utf8Decoder.decode(piece);
  }

  /**
   * Encodes text as run.c's `encode()`: BOS (unless `addSpecialTokens` is false), a dummy-prefix `" "` token when the text is non-empty,
   * one token per UTF-8 code point (byte tokens `byte + 3` for code points not in the vocabulary), then
   * repeatedly merges the adjacent pair whose concatenation is the best-scoring token (the leftmost on ties)
   * until no pair merges; optional EOS.
   *
   * Text given as a string is UTF-8 encoded first; a `Uint8Array` is used as is (run.c stops at a NUL byte,
   * this method does not).
   */
  encode(text: string | Uint8Array, options: Llama2cEncodeOptions = {}): number[] {
    const bytes = typeof text === "string" ? utf8Encoder.encode(text) : text;
    const tokens: number[] = [];
    if (options.addSpecialTokens ?? true) tokens.push(BOS_TOKEN_ID);
    if (bytes.length > 0) {
      const dummyPrefix = this.lookup(" ");
      if (dummyPrefix === undefined) {
        throw new TokenizerFormatError(
          'the vocabulary has no " " token, which run.c uses as the dummy prefix',
        );
      }
      tokens.push(dummyPrefix);
    }
    // Split into code points as run.c: a code point is a lead byte plus up to 3 continuation bytes.
    let start = 0;
    while (start < bytes.length) {
      let end = start + 1;
      while (end - start < 4 && isContinuationByte(bytes[end])) end++;
      const codePoint = bytes.subarray(start, end);
      const id = this.idByPiece.get(byteKey(codePoint));
      if (id !== undefined) tokens.push(id);
      else for (const byte of codePoint) tokens.push(byte + BYTE_TOKEN_OFFSET);
      start = end;
    }
    this.mergePairs(tokens);
    if (options.eos) tokens.push(EOS_TOKEN_ID);
    return tokens;
  }

  /**
   * Decodes one token as run.c's `decode(prev_token, token)`: the piece's bytes, without its leading space
   * when `previousToken` is BOS, and a `<0xXX>` byte token as the raw byte.
   */
  decodePiece(previousToken: number | undefined, token: number): Uint8Array {
    let piece = this.checkedPiece(token);
    if (previousToken === BOS_TOKEN_ID && piece[0] === 0x20) piece = piece.subarray(1);
    const byte = parseByteToken(piece);
    return byte === undefined ? piece.slice() : Uint8Array.of(byte);
  }

  /** The bytes that run.c prints for `ids` (see {@link Llama2cDecodeOptions}). */
  decodeBytes(ids: readonly number[], options: Llama2cDecodeOptions = {}): Uint8Array {
    const skipSpecial = options.skipSpecialTokens ?? true;
    const parts: Uint8Array[] = [];
    let previous = options.previousToken;
    for (const id of ids) {
      const isSpecial = id === UNKNOWN_TOKEN_ID || id === BOS_TOKEN_ID || id === EOS_TOKEN_ID;
      if (!(skipSpecial && isSpecial)) parts.push(this.decodePiece(previous, id));
      else this.checkedPiece(id);
      previous = id;
    }
    return concatBytes(parts);
  }

  /**
   * The text of `ids`: {@link decodeBytes} decoded as UTF-8 (invalid sequences become U+FFFD), e.g.
   * `decode([1, ...generated])` is what run.c prints for a generation from BOS.
   */
  decode(ids: readonly number[], options: Llama2cDecodeOptions = {}): string {
    return utf8Decoder.decode(this.decodeBytes(ids, options));
  }

  /**
   * run.c's merge loop (merge the best-scoring adjacent pair, the leftmost on ties, until none is in the
   * vocabulary), in O(n log n) with a heap over a linked list (see `mergeBestPairs`).
   */
  private mergePairs(tokens: number[]): void {
    mergeBestPairs(
      tokens,
      (left, right) => this.idByPiece.get(this.pieceKeys[left]! + this.pieceKeys[right]!),
      (id) => this.scores[id]!,
      INITIAL_BEST_SCORE,
    );
  }

  private checkedPiece(id: number): Uint8Array {
    const piece = Number.isInteger(id) ? this.pieces[id] : undefined;
    if (piece === undefined) {
      throw new TokenIdError(`token id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
    }
    return piece;
  }
}
