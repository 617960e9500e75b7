import { doraVariant } from "./dora/index.js";
import { plainVariant } from "./plain/index.js";
import type { LoraVariant } from "./registry.js";

/** The built-in LoRA variants, one folder each: a new one is a folder and an entry here. */
export const builtInLoraVariants: readonly LoraVariant[] = [plainVariant, doraVariant];
