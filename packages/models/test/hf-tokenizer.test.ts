/**
 * The Hugging Face tokenizer against Python's `tokenizers` 0.23.2 and transformers 5.18 on the two fixture
 * tokenizers (82 cases each, all five outputs identical, no tolerance: token ids and strings are exact), the
 * 12 chat renderings, and the transformers behaviours around them (role tokens, add_bos/add_eos flags,
 * clean-up, Rust's byte-fallback decoding).
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  ChatTemplateNotFoundError,
  ChatTemplateOptionsError,
  ChatTemplateRenderError,
  ChatTemplateSyntaxError,
  HuggingFaceTokenizer,
  TokenIdError,
  TokenizerFormatError,
} from "../src/index.js";
import {
  chatFixture,
  type TokenizerName,
  tokenizerCases,
  tokenizerConfigJson,
  tokenizerJson,
  tokenizerNames,
} from "./hf-tokenizer-fixtures.js";

const tokenizers = new Map<TokenizerName, HuggingFaceTokenizer>();
const rawTokenizerJson = new Map<TokenizerName, unknown>();

beforeAll(() => {
  for (const name of tokenizerNames) {
    rawTokenizerJson.set(name, tokenizerJson(name));
    tokenizers.set(
      name,
      HuggingFaceTokenizer.fromFiles({
        tokenizer: rawTokenizerJson.get(name),
        tokenizerConfig: tokenizerConfigJson(name),
        description: name,
      }),
    );
  }
});

const outputs = ["ids", "ids_special", "tokens", "decoded", "decoded_skip"] as const;

describe.each(tokenizerNames)("%s: every case of cases.json", (name) => {
  it("gives Python's ids, ids_special, tokens, decoded and decoded_skip for all 82 texts", () => {
    const tokenizer = tokenizers.get(name)!;
    const cases = tokenizerCases(name);
    expect(cases).toHaveLength(82);
    const matched = Object.fromEntries(outputs.map((output) => [output, 0]));
    const mismatches: string[] = [];
    for (const testCase of cases) {
      const ids = tokenizer.encode(testCase.text, { addSpecialTokens: false });
      const actual = {
        ids,
        ids_special: tokenizer.encode(testCase.text),
        tokens: testCase.ids.map((id) => tokenizer.idToToken(id)),
        decoded: tokenizer.decode(testCase.ids, { skipSpecialTokens: false }),
        decoded_skip: tokenizer.decode(testCase.ids, { skipSpecialTokens: true }),
      };
      for (const output of outputs) {
        if (JSON.stringify(actual[output]) === JSON.stringify(testCase[output])) matched[output]!++;
        else mismatches.push(`${testCase.name}.${output}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(matched).toEqual({ ids: 82, ids_special: 82, tokens: 82, decoded: 82, decoded_skip: 82 });
  });
});

describe.each(tokenizerNames)("%s: chat.json", (name) => {
  it("renders the 6 conversations as transformers and tokenizes them as apply_chat_template(tokenize=True)", () => {
    const tokenizer = tokenizers.get(name)!;
    const { chat_template: template, conversations } = chatFixture(name);
    expect(tokenizer.chatTemplate).toBe(template);
    expect(conversations).toHaveLength(6);
    for (const conversation of conversations) {
      const options = { addGenerationPrompt: conversation.kwargs.add_generation_prompt };
      expect(tokenizer.applyChatTemplate(conversation.messages, options), conversation.name).toBe(
        conversation.rendered,
      );
      expect(tokenizer.encodeChat(conversation.messages, options), conversation.name).toEqual(
        conversation.ids,
      );
    }
  });
});

describe("special tokens by role", () => {
  it("reads qwen3's roles from tokenizer_config.json (no BOS, EOS <|im_end|>, pad <|endoftext|>)", () => {
    expect(tokenizers.get("qwen3")!.specialTokens).toEqual({
      bos: undefined,
      eos: [151645],
      pad: 151643,
      unk: undefined,
    });
    expect(tokenizers.get("qwen3")!.vocabSize).toBe(151_669);
  });

  it("reads sp_bpe's roles (<s> 1, </s> 2, <unk> 0, no pad)", () => {
    expect(tokenizers.get("sp_bpe")!.specialTokens).toEqual({ bos: 1, eos: [2], pad: undefined, unk: 0 });
    expect(tokenizers.get("sp_bpe")!.vocabSize).toBe(2008);
  });

  it("stops generation at the generation config's eos ids as well as the tokenizer's", () => {
    const tokenizer = HuggingFaceTokenizer.fromFiles({
      tokenizer: rawTokenizerJson.get("qwen3"),
      tokenizerConfig: tokenizerConfigJson("qwen3"),
      generationEosTokenIds: [151643, 151645], // Qwen3's generation_config.json order
    });
    expect(tokenizer.specialTokens.eos).toEqual([151643, 151645]);
  });

  it("lets special_tokens_map.json override tokenizer_config.json, objects with content included", () => {
    const tokenizer = HuggingFaceTokenizer.fromFiles({
      tokenizer: rawTokenizerJson.get("sp_bpe"),
      tokenizerConfig: tokenizerConfigJson("sp_bpe"),
      specialTokensMap: { pad_token: { content: "</s>", lstrip: false }, eos_token: "<unk>" },
    });
    expect(tokenizer.specialTokens).toEqual({ bos: 1, eos: [0], pad: 2, unk: 0 });
  });

  it("refuses a role token that is not in the vocabulary, naming it", () => {
    const build = () =>
      HuggingFaceTokenizer.fromFiles({
        tokenizer: rawTokenizerJson.get("sp_bpe"),
        tokenizerConfig: { ...tokenizerConfigJson("sp_bpe"), pad_token: "<pad>" },
        description: "sp_bpe",
      });
    expect(build).toThrow(TokenizerFormatError);
    expect(build).toThrow(/pad_token "<pad>"/);
  });

  it("refuses an EOS id outside the vocabulary and a file that is not a tokenizer.json", () => {
    expect(() =>
      HuggingFaceTokenizer.fromFiles({
        tokenizer: rawTokenizerJson.get("sp_bpe"),
        generationEosTokenIds: [5000],
      }),
    ).toThrow(TokenIdError);
    expect(() =>
      HuggingFaceTokenizer.fromFiles({ tokenizer: { version: "1.0" }, description: "x/tokenizer.json" }),
    ).toThrow(/x\/tokenizer.json is not a tokenizer.json/);
  });
});

describe("encode and decode as transformers 5", () => {
  it("rebuilds the special tokens from add_bos_token / add_eos_token when the config states them", () => {
    const withEos = HuggingFaceTokenizer.fromFiles({
      tokenizer: rawTokenizerJson.get("sp_bpe"),
      tokenizerConfig: { ...tokenizerConfigJson("sp_bpe"), add_eos_token: true },
    });
    const plain = withEos.encode("hello world", { addSpecialTokens: false });
    expect(withEos.encode("hello world")).toEqual([1, ...plain, 2]);
    const withoutBos = HuggingFaceTokenizer.fromFiles({
      tokenizer: rawTokenizerJson.get("sp_bpe"),
      tokenizerConfig: { ...tokenizerConfigJson("sp_bpe"), add_bos_token: false },
    });
    expect(withoutBos.encode("hello world")).toEqual(plain);
    // Without the flags tokenizer.json's TemplateProcessing decides (<s> $A).
    const { add_bos_token: _bos, add_eos_token: _eos, ...unflagged } = tokenizerConfigJson("sp_bpe");
    const fromPostProcessor = HuggingFaceTokenizer.fromFiles({
      tokenizer: rawTokenizerJson.get("sp_bpe"),
      tokenizerConfig: unflagged,
    });
    expect(fromPostProcessor.encode("hello world")).toEqual([1, ...plain]);
  });

  it("adds no BOS when add_bos_token is set but the tokenizer has no bos_token (qwen3)", () => {
    const tokenizer = HuggingFaceTokenizer.fromFiles({
      tokenizer: rawTokenizerJson.get("qwen3"),
      tokenizerConfig: { ...tokenizerConfigJson("qwen3"), add_bos_token: true },
    });
    expect(tokenizer.encode("hi")).toEqual(tokenizer.encode("hi", { addSpecialTokens: false }));
  });

  it("cleans up tokenization spaces only when the config asks (transformers' default is false)", () => {
    const text = "Hello , world . It 's";
    const plain = tokenizers.get("qwen3")!;
    expect(plain.decode(plain.encode(text))).toBe(text);
    const cleaning = HuggingFaceTokenizer.fromFiles({
      tokenizer: rawTokenizerJson.get("qwen3"),
      tokenizerConfig: { ...tokenizerConfigJson("qwen3"), clean_up_tokenization_spaces: true },
    });
    expect(cleaning.decode(cleaning.encode(text))).toBe("Hello, world. It's");
    const { clean_up_tokenization_spaces: _cleanUp, ...silent } = tokenizerConfigJson("qwen3");
    const unstated = HuggingFaceTokenizer.fromFiles({
      tokenizer: rawTokenizerJson.get("qwen3"),
      tokenizerConfig: silent,
    });
    expect(unstated.decode(unstated.encode(text))).toBe(text);
  });

  it("decodes an invalid UTF-8 byte run to one U+FFFD per byte token, as Rust's ByteFallback", () => {
    const tokenizer = tokenizers.get("sp_bpe")!;
    const byte = (value: number) =>
      tokenizer.tokenToId(`<0x${value.toString(16).toUpperCase().padStart(2, "0")}>`)!;
    // E2 82 AC is "€"; the truncated E2 82 is one maximal subpart (one U+FFFD in a WHATWG decoder), two tokens.
    expect(tokenizer.decode([byte(0xe2), byte(0x82), byte(0xac)])).toBe("€");
    expect(tokenizer.decode([byte(0xe2), byte(0x82)])).toBe("\uFFFD\uFFFD");
    expect(tokenizer.decode([byte(0xef), byte(0xbb), byte(0xbf), byte(0x41)])).toBe("\uFEFFA");
  });

  it("decodes [] to the empty string and refuses ids outside the vocabulary", () => {
    const tokenizer = tokenizers.get("qwen3")!;
    expect(tokenizer.decode([])).toBe("");
    expect(() => tokenizer.decode([151_669])).toThrow(TokenIdError);
    expect(() => tokenizer.decode([-1])).toThrow(/token id -1 is outside the vocabulary \[0, 151669\)/);
    expect(tokenizer.idToToken(151_669)).toBeUndefined();
    expect(tokenizer.idToToken(151_644)).toBe("<|im_start|>");
    expect(tokenizer.tokenToId("<think>")).toBe(151_667);
  });
});

describe("chat templates", () => {
  const user = [{ role: "user", content: "Hi" }];

  it("passes template variables (Qwen3's enable_thinking)", () => {
    const qwen3 = tokenizers.get("qwen3")!;
    expect(
      qwen3.applyChatTemplate(user, { addGenerationPrompt: true, variables: { enable_thinking: false } }),
    ).toBe("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  });

  it("turns raise_exception into a typed error carrying the template's message", () => {
    const spBpe = tokenizers.get("sp_bpe")!;
    const render = () => spBpe.applyChatTemplate([{ role: "tool", content: "42" }]);
    expect(render).toThrow(ChatTemplateRenderError);
    try {
      render();
    } catch (error) {
      expect((error as ChatTemplateRenderError).templateMessage).toBe("Unknown role: tool");
    }
  });

  it("keeps the final message open with continueFinalMessage, and refuses it with addGenerationPrompt", () => {
    const spBpe = tokenizers.get("sp_bpe")!;
    const messages = [...user, { role: "assistant", content: "The answer is  " }];
    expect(spBpe.applyChatTemplate(messages, { continueFinalMessage: true })).toBe(
      "<s><|user|>\nHi\n<|assistant|>\nThe answer is",
    );
    expect(() =>
      spBpe.applyChatTemplate(messages, { continueFinalMessage: true, addGenerationPrompt: true }),
    ).toThrow(ChatTemplateOptionsError);
  });

  it("selects named templates as transformers (default, tool_use, by name, or a template string)", () => {
    const tokenizer = HuggingFaceTokenizer.fromFiles({
      tokenizer: rawTokenizerJson.get("sp_bpe"),
      tokenizerConfig: {
        ...tokenizerConfigJson("sp_bpe"),
        chat_template: [
          { name: "default", template: "D{{ messages | length }}" },
          { name: "tool_use", template: "T{{ tools[0].name }}" },
        ],
      },
    });
    expect(tokenizer.applyChatTemplate(user)).toBe("D1");
    expect(tokenizer.applyChatTemplate(user, { tools: [{ name: "search" }] })).toBe("Tsearch");
    expect(tokenizer.applyChatTemplate(user, { chatTemplate: "tool_use", tools: [{ name: "x" }] })).toBe(
      "Tx",
    );
    expect(tokenizer.applyChatTemplate(user, { chatTemplate: "{{ bos_token }}!" })).toBe("<s>!");
  });

  it("renders strftime_now in the C locale from the given clock, and tojson without HTML escaping", () => {
    const tokenizer = tokenizers.get("sp_bpe")!;
    const now = () => new Date(2026, 11, 3, 9, 5, 7);
    expect(
      tokenizer.applyChatTemplate(user, {
        chatTemplate: '{{ strftime_now("%d %b %Y, %A %-H:%M:%S %p") }}',
        now,
      }),
    ).toBe("03 Dec 2026, Thursday 9:05:07 AM");
    expect(
      tokenizer.applyChatTemplate([{ role: "user", content: "<a href='x'>é</a>" }], {
        chatTemplate: "{{ messages[0] | tojson }}",
      }),
    ).toBe(`{"role": "user", "content": "<a href='x'>é</a>"}`);
  });

  it("gives typed errors for a missing template and a template that does not parse", () => {
    const bare = HuggingFaceTokenizer.fromFiles({
      tokenizer: rawTokenizerJson.get("sp_bpe"),
      description: "bare",
    });
    expect(() => bare.applyChatTemplate(user)).toThrow(ChatTemplateNotFoundError);
    expect(() => bare.applyChatTemplate(user)).toThrow(/bare has no chat template/);
    expect(() => bare.applyChatTemplate(user, { chatTemplate: "{% for %}" })).toThrow(
      ChatTemplateSyntaxError,
    );
  });
});
