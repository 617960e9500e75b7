/**
 * The `ByteFallback` decoder as the Rust `tokenizers` library implements it, replacing the one of
 * `@huggingface/tokenizers` 0.2.0, which differs from Python's results in two ways:
 *
 * - it decodes each run of `<0xXX>` tokens with `new TextDecoder()`, whose default `ignoreBOM: false` swallows
 *   a leading U+FEFF (bytes EF BB BF): Python keeps it (`"\uFEFFstarts with a BOM"`);
 * - for a run that is not valid UTF-8 it substitutes per maximal subpart (WHATWG), where Rust's
 *   `decoders/byte_fallback.rs` emits one U+FFFD per byte token of the run.
 */
import { ByteFallbackDecoder, Decoder, SequenceDecoder } from "@huggingface/tokenizers";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();
/** The two characters between `<0x` and `>` that Rust's `u8::from_str_radix(_, 16)` accepts (a `+` sign too). */
const hexByte = /^(?:[0-9A-Fa-f]{2}|\+[0-9A-Fa-f])$/;

/**
 * The byte of a `<0xXX>` token, by Rust's rule: 6 bytes of UTF-8, `<0x` … `>`, the middle parsed as hex.
 * Returns undefined for any other token.
 */
function byteOfToken(token: string): number | undefined {
  if (!token.startsWith("<0x") || !token.endsWith(">") || utf8Encoder.encode(token).length !== 6)
    return undefined;
  const digits = token.slice(3, 5);
  return hexByte.test(digits) ? Number.parseInt(digits, 16) : undefined;
}

/** Decodes one run of byte tokens: the UTF-8 text, or one U+FFFD per byte when the run is not valid UTF-8. */
function decodeByteRun(bytes: readonly number[]): string[] {
  try {
    return [strictUtf8.decode(Uint8Array.from(bytes))];
  } catch {
    return bytes.map(() => "\uFFFD");
  }
}

/** `ByteFallback` with the Rust library's semantics (see the module comment). */
export class ExactByteFallbackDecoder extends Decoder {
  override decode_chain(tokens: string[]): string[] {
    const decoded: string[] = [];
    let run: number[] = [];
    for (const token of tokens) {
      const byte = byteOfToken(token);
      if (byte !== undefined) {
        run.push(byte);
        continue;
      }
      if (run.length > 0) {
        decoded.push(...decodeByteRun(run));
        run = [];
      }
      decoded.push(token);
    }
    if (run.length > 0) decoded.push(...decodeByteRun(run));
    return decoded;
  }
}

/**
 * Swaps every `ByteFallback` decoder in a decoder tree (the decoder itself or the members of a `Sequence`) for
 * {@link ExactByteFallbackDecoder}; returns the (possibly new) root.
 */
export function withExactByteFallback(decoder: Decoder | null): Decoder | null {
  if (decoder instanceof ByteFallbackDecoder) {
    const replacement = new ExactByteFallbackDecoder(decoder.config);
    replacement.added_tokens = decoder.added_tokens;
    replacement.end_of_word_suffix = decoder.end_of_word_suffix;
    return replacement;
  }
  if (decoder instanceof SequenceDecoder) {
    decoder.decoders = decoder.decoders.map((member) => withExactByteFallback(member) ?? member);
  }
  return decoder;
}
