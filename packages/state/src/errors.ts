import { PeftjsError } from "@peftjs/io";

/**
 * Thrown when code tries to write into a frozen base tensor, e.g. `store.set(name, …)`. Base weights change
 * only through {@link WeightStore.mutate}, which journals the change.
 */
export class FrozenTensorWriteError extends PeftjsError {
  /** The tensor that was written to. */
  readonly tensorName: string;

  constructor(tensorName: string, operation: string) {
    super(
      "frozen_tensor_write",
      `cannot ${operation} "${tensorName}": base tensors are frozen; change a weight with ` +
        `store.mutate(${JSON.stringify(tensorName)}, next, { reason, by }), which journals the change`,
    );
    this.tensorName = tensorName;
  }
}

/** Thrown when a name is not in the store (or snapshot). */
export class UnknownTensorError extends PeftjsError {
  /** The missing name. */
  readonly tensorName: string;

  constructor(tensorName: string, available: readonly string[]) {
    const shown = available.slice(0, 5).map((name) => JSON.stringify(name));
    const more = available.length > 5 ? `, … (${available.length} in all)` : "";
    super(
      "unknown_tensor",
      `no tensor named ${JSON.stringify(tensorName)} in the store` +
        (available.length === 0 ? " (the store is empty)" : `; it holds ${shown.join(", ")}${more}`),
    );
    this.tensorName = tensorName;
  }
}

/** Thrown when a tensor's bytes do not match its dtype and shape, or the dtype/shape are malformed. */
export class InvalidTensorError extends PeftjsError {
  constructor(tensorName: string, problem: string) {
    super("invalid_tensor", `tensor ${JSON.stringify(tensorName)}: ${problem}`);
  }
}

/** Thrown by {@link WeightStore.mutate} when the replacement has another dtype or shape than the weight. */
export class MutationShapeError extends PeftjsError {
  constructor(tensorName: string, current: string, next: string) {
    super(
      "mutation_shape",
      `mutate(${JSON.stringify(tensorName)}) must keep dtype and shape: the weight is ${current}, ` +
        `the replacement is ${next}`,
    );
  }
}

/** Thrown by {@link WeightStore.mutate} when the store's mutation policy is `"throw"`. Nothing was changed. */
export class BaseMutationForbiddenError extends PeftjsError {
  /** The weight that would have changed. */
  readonly tensorName: string;

  constructor(tensorName: string, reason: string, by: string) {
    super(
      "base_mutation_forbidden",
      `${by} tried to mutate base weight ${JSON.stringify(tensorName)} (${reason}) but this store's mutation ` +
        `policy is "throw"; mutate a fork instead (store.fork()), or use an adapter mode that leaves the base alone`,
    );
    this.tensorName = tensorName;
  }
}

/** Thrown when a `mutate` call lacks its reason or actor, which the journal requires. */
export class MutationDescriptionError extends PeftjsError {
  constructor(tensorName: string, field: "reason" | "by") {
    super(
      "mutation_description",
      `mutate(${JSON.stringify(tensorName)}) needs a non-empty "${field}" string: every base change is journaled ` +
        `with its reason and actor`,
    );
  }
}

/** Thrown when a snapshot cannot be restored into a store (its tensor names differ). */
export class SnapshotMismatchError extends PeftjsError {
  constructor(missing: readonly string[], extra: readonly string[]) {
    const list = (names: readonly string[]) =>
      names
        .slice(0, 5)
        .map((name) => JSON.stringify(name))
        .join(", ") + (names.length > 5 ? `, … (${names.length})` : "");
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`the snapshot lacks ${list(missing)}`);
    if (extra.length > 0) parts.push(`the snapshot has ${list(extra)} that the store lacks`);
    super("snapshot_mismatch", `cannot restore: ${parts.join("; ")}`);
  }
}

/** Thrown when a persisted snapshot is malformed or its bytes do not match its recorded fingerprint. */
export class SnapshotFormatError extends PeftjsError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("snapshot_format", message, options);
  }
}

/** Thrown when an adapter record (or its `peftjs.*` metadata, or an `adapter_config.json`) is invalid. */
export class InvalidAdapterRecordError extends PeftjsError {
  /** Every problem found, one sentence each. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super("invalid_adapter_record", `invalid adapter record: ${problems.join("; ")}`);
    this.problems = problems;
  }
}

/** Thrown when a hasher is used after its digest was taken (an internal misuse). */
export class HasherFinishedError extends PeftjsError {
  constructor(operation: "update" | "digest") {
    super("hasher_finished", `cannot ${operation}: this hasher's digest was already taken`);
  }
}

/**
 * The base class of the errors of `checkCompatibility`: an adapter that does not fit the store it is being
 * loaded on. The message says what differs and what to do; {@link AdapterCompatibilityError.remedy} repeats
 * the advice.
 */
export class AdapterCompatibilityError extends PeftjsError {
  /** The adapter's name. */
  readonly adapterName: string;
  /** What to do instead, in words. */
  readonly remedy: string;

  constructor(code: string, adapterName: string, problem: string, remedy: string) {
    super(code, `adapter ${JSON.stringify(adapterName)}: ${problem}; ${remedy}`);
    this.adapterName = adapterName;
    this.remedy = remedy;
  }
}

/** The adapter records a base fingerprint and the store has another one. */
export class AdapterBaseMismatchError extends AdapterCompatibilityError {
  /** The fingerprint the adapter expects. */
  readonly expected: string;
  /** The store's fingerprint. */
  readonly actual: string;

  constructor(adapterName: string, expected: string, actual: string, detail: string, remedy: string) {
    super(
      "adapter_base_mismatch",
      adapterName,
      `expects base ${expected} but the store is ${actual}${detail}`,
      remedy,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * The adapter needs the base replaced by its residual (unconverted PiSSA/OLoRA) and the caller did not allow
 * this store to be mutated (it may be shared with other adapters).
 */
export class AdapterNeedsMutatedBaseError extends AdapterCompatibilityError {
  constructor(adapterName: string, initMethod: string) {
    super(
      "adapter_needs_mutated_base",
      adapterName,
      `it was trained with init ${initMethod} and not converted, so it only fits a base rewritten to the ` +
        "residual W − s·B₀A₀, and this store must not be mutated",
      "load it on a fork (store.fork()), or convert it to LoRA (A' = [A; A₀], B' = [B, −B₀]) to use it on the " +
        "original base",
    );
  }
}

/**
 * The adapter carries no fingerprint (written by PEFT) and needs the original base, but this store's weights
 * were changed: applying it would silently give wrong outputs (PEFT issue #2184).
 */
export class AdapterNeedsOriginalBaseError extends AdapterCompatibilityError {
  /** The weights that differ from the original. */
  readonly changedNames: readonly string[];

  constructor(adapterName: string, changedNames: readonly string[], changes: string, remedy: string) {
    super(
      "adapter_needs_original_base",
      adapterName,
      `it applies to the original base, but ${changedNames.length} base weight(s) of this store were changed ` +
        `(${changes})`,
      remedy,
    );
    this.changedNames = changedNames;
  }
}
