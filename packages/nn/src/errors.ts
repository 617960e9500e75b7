import { PeftjsError } from "@peftjs/io";

/** A module path names no module (`getModule`, `replaceModule`); the message lists what exists there. */
export class ModuleNotFoundError extends PeftjsError {
  constructor(message: string) {
    super("module_not_found", message);
  }
}

/** A weight, an input or a replacement module does not have the shape its place requires. */
export class ModuleShapeError extends PeftjsError {
  constructor(message: string) {
    super("module_shape", message);
  }
}

/** A configuration names an activation function this package does not implement. */
export class UnsupportedActivationError extends PeftjsError {
  /** The requested name, e.g. `"gelu"`. */
  readonly activation: string;

  constructor(activation: string, supported: readonly string[]) {
    super(
      "unsupported_activation",
      `activation ${JSON.stringify(activation)} is not supported; supported: ${supported.map((name) => JSON.stringify(name)).join(", ")}`,
    );
    this.activation = activation;
  }
}
