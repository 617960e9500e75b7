import { Tensor } from "@peftjs/tensor";
import { ModuleNotFoundError, ModuleShapeError } from "./errors.js";

/**
 * The base of every layer and model: a tree of named sub-modules and parameters, addressed by dotted paths as
 * in PyTorch (`model.layers.0.self_attn.q_proj`), so that the paths are Hugging Face's checkpoint and PEFT
 * target names.
 *
 * A module's children and parameters are its own enumerable properties: a property holding a `Module` is a
 * child, one holding a `Tensor` is a parameter (an `undefined` optional parameter, such as a missing bias, is
 * skipped). Everything else — numbers, configs, `#private` fields (buffers, caches) — is neither. Properties
 * are visited in the order they were assigned, so a model that assigns its fields in Hugging Face's order
 * lists its modules in `named_modules()` order. Tensors are immutable, so parameters are never written in
 * place: a layer is replaced ({@link Module.replaceModule}), or a subclass swaps its own tensors.
 */
export abstract class Module {
  /** The direct children by local name (default: own enumerable properties holding a module). */
  protected children(): Iterable<[string, Module]> {
    return Object.entries(this).filter((entry): entry is [string, Module] => entry[1] instanceof Module);
  }

  /** This module's own parameters by local name (default: own enumerable properties holding a tensor). */
  protected ownParameters(): Iterable<[string, Tensor]> {
    return Object.entries(this).filter((entry): entry is [string, Tensor] => entry[1] instanceof Tensor);
  }

  /**
   * Replaces the direct child `name` (default: assigns the property). Subclasses with their own child storage
   * ({@link ModuleList}) override it.
   */
  protected setChild(name: string, module: Module): void {
    (this as unknown as Record<string, Module>)[name] = module;
  }

  /**
   * Every module of the tree, this one first (under `prefix`, by default `""`), depth first in property
   * order, as PyTorch's `named_modules()`.
   */
  namedModules(prefix = ""): Map<string, Module> {
    const result = new Map<string, Module>();
    const visit = (module: Module, path: string): void => {
      result.set(path, module);
      for (const [name, child] of module.children()) visit(child, path === "" ? name : `${path}.${name}`);
    };
    visit(this, prefix);
    return result;
  }

  /**
   * Every parameter of the tree by dotted path (`model.layers.0.self_attn.q_proj.weight`). A tensor reachable
   * twice (tied weights, e.g. an output head sharing the token embedding) is listed once, under its first
   * path, as PyTorch's `named_parameters()` does.
   */
  namedParameters(): Map<string, Tensor> {
    const result = new Map<string, Tensor>();
    const seen = new Set<Tensor>();
    for (const [path, module] of this.namedModules()) {
      for (const [name, parameter] of module.ownParameters()) {
        if (seen.has(parameter)) continue;
        seen.add(parameter);
        result.set(path === "" ? name : `${path}.${name}`, parameter);
      }
    }
    return result;
  }

  /**
   * The module at `path` (`""` is this module).
   *
   * @throws ModuleNotFoundError naming the first path segment that does not exist.
   */
  getModule(path: string): Module {
    if (path === "") return this;
    let current: Module = this;
    let walked = "";
    for (const segment of path.split(".")) {
      const child = new Map(current.children()).get(segment);
      if (child === undefined) {
        throw new ModuleNotFoundError(
          `no module "${path}": ${walked === "" ? "the root" : `"${walked}"`} has no child "${segment}" (children: ${JSON.stringify([...new Map(current.children()).keys()])})`,
        );
      }
      current = child;
      walked = walked === "" ? segment : `${walked}.${segment}`;
    }
    return current;
  }

  /**
   * Puts `replace(current)` at `path` in place of the current module and returns the one that was there (the
   * usual way to wrap a layer: `model.replaceModule(path, (base) => new LoraLinear(base))`). When both modules
   * have numeric `inFeatures`/`outFeatures` (linear layers), they must agree.
   *
   * @throws ModuleNotFoundError for an unknown path (or `""`); ModuleShapeError when the sizes differ.
   */
  replaceModule(path: string, replace: (current: Module) => Module): Module {
    const cut = path.lastIndexOf(".");
    const parent = this.getModule(cut < 0 ? "" : path.slice(0, cut));
    const name = path.slice(cut + 1);
    const current = path === "" ? undefined : new Map(parent.children()).get(name);
    if (current === undefined) throw new ModuleNotFoundError(`no module "${path}" to replace`);
    const replacement = replace(current);
    if (!(replacement instanceof Module)) {
      throw new ModuleShapeError(`the replacement for "${path}" is not a Module`);
    }
    for (const size of ["inFeatures", "outFeatures"] as const) {
      const before = (current as unknown as Record<string, unknown>)[size];
      const after = (replacement as unknown as Record<string, unknown>)[size];
      if (typeof before === "number" && typeof after === "number" && before !== after) {
        throw new ModuleShapeError(
          `the replacement for "${path}" has ${size} ${after}; the module it replaces has ${before}`,
        );
      }
    }
    parent.setChild(name, replacement);
    return current;
  }

  /** Releases every parameter of the tree (tied tensors once). The module cannot be used afterwards. */
  disposeParameters(): void {
    for (const parameter of this.namedParameters().values()) parameter.dispose();
  }
}

/** An ordered list of modules, children named `"0"`, `"1"`, … (PyTorch's `nn.ModuleList`). */
export class ModuleList<Item extends Module = Module> extends Module implements Iterable<Item> {
  readonly #items: Item[];

  constructor(items: Iterable<Item>) {
    super();
    this.#items = [...items];
  }

  /** Number of modules. */
  get length(): number {
    return this.#items.length;
  }

  /** The module at `index`. @throws ModuleNotFoundError when out of range. */
  at(index: number): Item {
    const item = this.#items[index];
    if (item === undefined) {
      throw new ModuleNotFoundError(`module list of ${this.#items.length} has no index ${index}`);
    }
    return item;
  }

  /** The modules in order. */
  [Symbol.iterator](): Iterator<Item> {
    return this.#items[Symbol.iterator]();
  }

  protected override children(): Iterable<[string, Module]> {
    return this.#items.map((item, index) => [String(index), item] as [string, Module]);
  }

  protected override ownParameters(): Iterable<[string, Tensor]> {
    return [];
  }

  protected override setChild(name: string, module: Module): void {
    this.#items[Number(name)] = module as Item;
  }
}
