export { PeftjsError, isPeftjsError } from "./errors.js";
export type { PeftjsErrorOptions } from "./errors.js";
