import { PeftjsError } from "@peftjs/io";

/**
 * Autograd was used in a way it cannot support: a parameter that is not a live float32 tensor, an op with no
 * gradient rule reached by a parameter, or a nested {@link valueAndGradients} call. The message names the op
 * and shapes.
 */
export class AutogradError extends PeftjsError {
  constructor(message: string) {
    super("tensor_autograd", message);
  }
}
