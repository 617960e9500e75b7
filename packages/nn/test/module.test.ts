import { type Tensor, tensor } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import {
  Embedding,
  Linear,
  Module,
  ModuleList,
  ModuleNotFoundError,
  ModuleShapeError,
  RMSNorm,
} from "../src/index.js";

const weight = (rows: number, columns: number, start = 0): Tensor =>
  tensor(
    Array.from({ length: rows * columns }, (_, index) => (start + index) / 10),
    [rows, columns],
  );

class Block extends Module {
  readonly self_attn: Module;
  readonly norm: RMSNorm;
  constructor(offset: number) {
    super();
    // assigned in this order, so listed in this order
    this.self_attn = new (class Attention extends Module {
      q_proj = new Linear(weight(4, 3, offset), tensor([1, 2, 3, 4], [4]));
      k_proj = new Linear(weight(2, 3, offset));
    })();
    this.norm = new RMSNorm(tensor([1, 1, 1], [3]), { eps: 1e-6 });
  }
}

class Tiny extends Module {
  readonly embed_tokens: Embedding;
  readonly layers: ModuleList<Block>;
  readonly lm_head: Linear;
  readonly hiddenSize = 3;
  readonly #buffer = tensor([0], [1]);
  constructor() {
    super();
    this.embed_tokens = new Embedding(weight(5, 3));
    this.layers = new ModuleList([new Block(1), new Block(2)]);
    this.lm_head = new Linear(this.embed_tokens.weight); // tied
  }
  get buffer(): Tensor {
    return this.#buffer;
  }
}

describe("Module", () => {
  it("lists modules depth first in assignment order, PyTorch's named_modules", () => {
    expect([...new Tiny().namedModules().keys()]).toEqual([
      "",
      "embed_tokens",
      "layers",
      "layers.0",
      "layers.0.self_attn",
      "layers.0.self_attn.q_proj",
      "layers.0.self_attn.k_proj",
      "layers.0.norm",
      "layers.1",
      "layers.1.self_attn",
      "layers.1.self_attn.q_proj",
      "layers.1.self_attn.k_proj",
      "layers.1.norm",
      "lm_head",
    ]);
  });

  it("lists parameters once (a tied weight under its first path; no buffers, numbers or missing biases)", () => {
    const model = new Tiny();
    const parameters = model.namedParameters();
    expect([...parameters.keys()]).toEqual([
      "embed_tokens.weight",
      "layers.0.self_attn.q_proj.weight",
      "layers.0.self_attn.q_proj.bias",
      "layers.0.self_attn.k_proj.weight",
      "layers.0.norm.weight",
      "layers.1.self_attn.q_proj.weight",
      "layers.1.self_attn.q_proj.bias",
      "layers.1.self_attn.k_proj.weight",
      "layers.1.norm.weight",
    ]);
    expect(parameters.get("embed_tokens.weight")).toBe(model.lm_head.weight);
    expect([...parameters.values()]).not.toContain(model.buffer);
  });

  it("finds modules by path and names the missing segment", () => {
    const model = new Tiny();
    expect(model.getModule("layers.1.self_attn.k_proj")).toBe(
      model.layers.at(1).self_attn.getModule("k_proj"),
    );
    expect(model.getModule("")).toBe(model);
    expect(() => model.getModule("layers.2.self_attn")).toThrow(ModuleNotFoundError);
    expect(() => model.getModule("layers.0.mlp.up_proj")).toThrow(/"layers\.0" has no child "mlp"/);
  });

  it("replaces a module (also inside a list) and returns the previous one; sizes must agree", () => {
    const model = new Tiny();
    const original = model.getModule("layers.0.self_attn.q_proj");
    const replacement = new Linear(weight(4, 3, 7));
    expect(
      model.replaceModule("layers.0.self_attn.q_proj", (current) => {
        expect(current).toBe(original);
        return replacement;
      }),
    ).toBe(original);
    expect(model.getModule("layers.0.self_attn.q_proj")).toBe(replacement);
    expect(model.namedParameters().has("layers.0.self_attn.q_proj.bias")).toBe(false);

    const block = new Block(5);
    model.replaceModule("layers.1", () => block);
    expect(model.layers.at(1)).toBe(block);

    expect(() => model.replaceModule("layers.0.self_attn.k_proj", () => new Linear(weight(3, 3)))).toThrow(
      ModuleShapeError,
    );
    expect(() => model.replaceModule("layers.0.self_attn.v_proj", (current) => current)).toThrow(
      ModuleNotFoundError,
    );
    expect(() => model.replaceModule("", (current) => current)).toThrow(ModuleNotFoundError);
  });

  it("a module list is iterable and refuses indexes outside it", () => {
    const list = new ModuleList([new Block(0), new Block(1)]);
    expect([...list]).toHaveLength(2);
    expect(list.length).toBe(2);
    expect(() => list.at(2)).toThrow(ModuleNotFoundError);
  });
});
