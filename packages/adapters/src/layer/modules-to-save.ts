import { Embedding, Linear, Module, RMSNorm } from "@peftjs/nn";
import { keep, mul, type RandomGenerator, type Tensor } from "@peftjs/tensor";
import type { HostTensor } from "../adapter.js";
import { AdapterShapeError } from "../errors.js";
import { adapterParameterName, copiedParameter, copiedParameterName } from "./parameter-keys.js";

/** The module kinds a trainable copy can be made of. */
export type CopyableModule = Linear | Embedding | RMSNorm;

/** Whether `module` is a kind {@link ModulesToSaveLayer} can copy. */
export function isCopyableModule(module: Module): module is CopyableModule {
  return module instanceof Linear || module instanceof Embedding || module instanceof RMSNorm;
}

/** The parameters of a copyable module by local name (`weight`, and `bias` when a Linear has one). */
function parametersOf(module: CopyableModule): Map<string, Tensor> {
  const result = new Map<string, Tensor>([["weight", module.weight]]);
  if (module instanceof Linear && module.bias !== undefined) result.set("bias", module.bias);
  return result;
}

/** A module of the same kind and options as `original`, holding `parameters`. */
function rebuild(original: CopyableModule, parameters: ReadonlyMap<string, Tensor>): CopyableModule {
  const weight = parameters.get("weight")!;
  if (original instanceof Linear) return new Linear(weight, parameters.get("bias"));
  if (original instanceof Embedding) return new Embedding(weight);
  return new RMSNorm(weight, { eps: original.eps, unitOffset: original.unitOffset });
}

/**
 * PEFT's `ModulesToSaveWrapper` (`modules_to_save`): the model's module (`original_module`) and, per adapter, a
 * full trainable copy of its parameters, used in its place while that adapter is active. The original is never
 * modified; disabling the adapters, deleting the adapter or unloading brings it back. Copies are saved under the
 * module's own keys (`base_model.model.lm_head.weight`), as PEFT strips `modules_to_save.<adapter>.`.
 * Merging does not apply (the copy already is the module); `mergeAndUnload` puts the active copy in place.
 */
export class ModulesToSaveLayer extends Module {
  /** The model's module, as PEFT names it. */
  original_module: CopyableModule;
  /** True during training (no effect). */
  training = false;
  /** Unused; present so every adapter layer can be switched the same way. */
  generator: RandomGenerator | undefined;
  readonly #copies = new Map<string, Map<string, Tensor>>();
  #active: string[] = [];
  #disabled = false;

  constructor(original: CopyableModule) {
    super();
    this.original_module = original;
  }

  /** The wrapped module (the name every adapter layer uses for what it wraps). */
  get base_layer(): CopyableModule {
    return this.original_module;
  }

  /** A Linear's sizes, so the wrapper can stand in a linear slot. */
  get inFeatures(): number | undefined {
    return this.original_module instanceof Linear ? this.original_module.inFeatures : undefined;
  }

  /** See {@link ModulesToSaveLayer.inFeatures}. */
  get outFeatures(): number | undefined {
    return this.original_module instanceof Linear ? this.original_module.outFeatures : undefined;
  }

  /** The copies as PEFT names them in the model: `modules_to_save.<adapter>.weight`. */
  protected override ownParameters(): Iterable<[string, Tensor]> {
    return [...this.#copies].flatMap(([adapter, parameters]) =>
      [...parameters].map(
        ([name, value]) =>
          [adapterParameterName(copiedParameterName(name), adapter), value] as [string, Tensor],
      ),
    );
  }

  /** Whether the layer carries adapter `name`. */
  hasAdapter(name: string): boolean {
    return this.#copies.has(name);
  }

  /**
   * Adds or replaces adapter `name`'s copy: `parameters` by local name (`weight`, `bias`), or, when omitted,
   * fresh copies of the original's (PEFT's `deepcopy`). The layer owns the tensors.
   *
   * @throws AdapterShapeError when a parameter is missing, unknown or of another shape.
   */
  setAdapter(name: string, parameters?: ReadonlyMap<string, Tensor>): void {
    const original = parametersOf(this.original_module);
    const copy = new Map<string, Tensor>();
    for (const [parameter, value] of original) {
      const given = parameters?.get(parameter);
      if (parameters !== undefined && given === undefined) {
        throw new AdapterShapeError(`adapter "${name}" has no copy of "${parameter}"`);
      }
      if (given !== undefined && given.shape.join() !== value.shape.join()) {
        throw new AdapterShapeError(
          `adapter "${name}": the copy of "${parameter}" is [${given.shape.join(", ")}], the module's is [${value.shape.join(", ")}]`,
        );
      }
      copy.set(parameter, keep(given ?? mul(value, 1)));
    }
    const extra = [...(parameters?.keys() ?? [])].find((parameter) => !original.has(parameter));
    if (extra !== undefined) throw new AdapterShapeError(`adapter "${name}": the module has no "${extra}"`);
    this.deleteAdapter(name);
    this.#copies.set(name, copy);
  }

  /** The trainable parameter names of adapter `name` (`modules_to_save/weight`, …; see parameter-keys.ts). */
  parameterNames(name: string): string[] {
    return [...this.#copy(name).keys()].map(copiedParameterName);
  }

  /** One parameter of adapter `name`'s copy. */
  parameter(name: string, parameter: string): Tensor {
    const value = this.#copy(name).get(copiedParameter(parameter));
    if (value === undefined) {
      throw new AdapterShapeError(`adapter "${name}" in this layer has no parameter "${parameter}"`);
    }
    return value;
  }

  /** Installs a new value of one parameter of the copy (one optimiser step); the shape must stay. */
  setParameter(name: string, parameter: string, value: Tensor): void {
    const current = this.parameter(name, parameter);
    if (value.shape.join() !== current.shape.join()) {
      throw new AdapterShapeError(
        `new ${parameter} of adapter "${name}" is [${value.shape.join(", ")}], expected [${current.shape.join(", ")}]`,
      );
    }
    if (value !== current) current.dispose();
    this.#copy(name).set(copiedParameter(parameter), keep(value));
  }

  /** Removes adapter `name`'s copy. */
  deleteAdapter(name: string): void {
    for (const value of this.#copies.get(name)?.values() ?? []) value.dispose();
    this.#copies.delete(name);
    this.#active = this.#active.filter((entry) => entry !== name);
  }

  /** Sets the active adapters (those with a copy here; PEFT allows one at a time per module). */
  setActive(names: readonly string[]): void {
    this.#active = names.filter((name) => this.#copies.has(name));
  }

  /** Turns the copies off (true: the original runs) or back on. */
  setDisabled(disabled: boolean): void {
    this.#disabled = disabled;
  }

  /** Always empty: a copy is not merged, it replaces the module while active. */
  get mergedAdapters(): readonly string[] {
    return [];
  }

  /** Nothing to merge (see {@link ModulesToSaveLayer.mergedAdapters}). */
  merge(_name: string, _safe: boolean): void {}

  /** Nothing to unmerge. */
  unmergeLast(): string | undefined {
    return undefined;
  }

  /**
   * The module that runs: the active adapter's copy, or the original while disabled or without one.
   *
   * @throws AdapterShapeError when two active adapters both have a copy (PEFT refuses that too).
   */
  current(): CopyableModule {
    if (this.#disabled || this.#active.length === 0) return this.original_module;
    if (this.#active.length > 1) {
      throw new AdapterShapeError(
        `adapters ${JSON.stringify(this.#active)} each have a copy of this module; only one can be active at a time`,
      );
    }
    return rebuild(this.original_module, this.#copy(this.#active[0]!));
  }

  /** The active copy's (or the original's) forward pass. */
  forward(input: Tensor): Tensor {
    return this.current().forward(input);
  }

  /**
   * A module of the original's kind holding adapter `name`'s copy, handed over (mergeAndUnload): the layer
   * forgets the copy without releasing its tensors, which now belong to the caller.
   */
  releaseModule(name: string): CopyableModule {
    const module = rebuild(this.original_module, this.#copy(name));
    this.#copies.delete(name);
    this.#active = this.#active.filter((entry) => entry !== name);
    return module;
  }

  /** Adapter `name`'s copy read back to the host, by local parameter name (for saving). */
  readAdapter(name: string): Map<string, HostTensor> {
    const result = new Map<string, HostTensor>();
    for (const [parameter, value] of this.#copy(name)) {
      result.set(parameter, { shape: value.shape, data: value.toFloat32Array() });
    }
    return result;
  }

  /** Releases every copy (the original belongs to the model). */
  dispose(): void {
    for (const name of [...this.#copies.keys()]) this.deleteAdapter(name);
  }

  #copy(name: string): Map<string, Tensor> {
    const copy = this.#copies.get(name);
    if (copy === undefined) throw new AdapterShapeError(`the layer carries no copy for adapter "${name}"`);
    return copy;
  }
}
