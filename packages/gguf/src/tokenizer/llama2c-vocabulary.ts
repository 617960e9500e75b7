import { GgufTokenizerError } from "../errors.js";
import { GgufTokenType, type GgufVocabulary } from "./vocabulary.js";

/** llama2.c's fixed ids (run.c hard-codes them). */
const unknownId = 0;
const bosId = 1;
const eosId = 2;
const bytePiece = /^<0x[0-9A-Fa-f]{2}>$/;

/**
 * Reads a llama2.c tokenizer (`tokenizer.bin`, `tok512.bin`: int32 max_token_length, then per token a float32
 * score, an int32 byte length and the bytes) as llama.cpp's `llama` (SentencePiece) vocabulary. llama2.c's export
 * replaced SentencePiece's `▁` by a space and wrote BOS/EOS as `"\n<s>\n"` / `"\n</s>\n"`; both are undone, so the
 * pieces are SentencePiece's again. Its merge rule (highest score first, leftmost on ties), dummy-prefix space and
 * byte fallback (`<0xXX>` tokens) are exactly llama.cpp's SPM tokenizer.
 * @param vocabSize how many tokens to read (run.c takes it from the model); by default every record.
 * @throws GgufTokenizerError for a truncated file or a piece that is not UTF-8
 */
export function llama2cVocabulary(bytes: Uint8Array, vocabSize?: number): GgufVocabulary {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  if (bytes.length < 4)
    throw new GgufTokenizerError(`a llama2.c tokenizer needs at least 4 bytes, got ${bytes.length}`);
  const tokens: string[] = [];
  const scores: number[] = [];
  const tokenTypes: number[] = [];
  let position = 4;
  while (position < bytes.length && (vocabSize === undefined || tokens.length < vocabSize)) {
    const id = tokens.length;
    if (position + 8 > bytes.length)
      throw new GgufTokenizerError(`token ${id}: the record at byte ${position} is truncated`);
    const score = view.getFloat32(position, true);
    const length = view.getInt32(position + 4, true);
    position += 8;
    if (length < 0 || position + length > bytes.length) {
      throw new GgufTokenizerError(
        `token ${id}: length ${length} at byte ${position - 4} runs past the end of the file`,
      );
    }
    let piece: string;
    try {
      piece = decoder.decode(bytes.subarray(position, position + length));
    } catch (error) {
      throw new GgufTokenizerError(`token ${id} is not valid UTF-8`, { cause: error });
    }
    position += length;
    if (!Number.isFinite(score)) throw new GgufTokenizerError(`token ${id} has score ${score}`);
    let type: number = GgufTokenType.NORMAL;
    if (id === unknownId) type = GgufTokenType.UNKNOWN;
    else if (id === bosId || id === eosId) type = GgufTokenType.CONTROL;
    else if (bytePiece.test(piece)) type = GgufTokenType.BYTE;
    if (id === bosId) piece = "<s>";
    else if (id === eosId) piece = "</s>";
    else if (type === GgufTokenType.NORMAL) piece = piece.replaceAll(" ", "▁");
    tokens.push(piece);
    scores.push(score);
    tokenTypes.push(type);
  }
  if (vocabSize !== undefined && tokens.length < vocabSize) {
    throw new GgufTokenizerError(
      `the llama2.c tokenizer has ${tokens.length} tokens, the model ${vocabSize}`,
    );
  }
  return {
    model: "llama",
    tokens,
    scores,
    tokenTypes,
    specialTokens: { bos: bosId, eos: eosId, unk: unknownId },
    addBos: true,
    addEos: false,
    addSpacePrefix: true,
    warnings: [],
  };
}
