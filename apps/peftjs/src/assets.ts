import { fileURLToPath } from "node:url";

/**
 * The folder of the embedded stories260K model (Andrej Karpathy's tiny Llama, MIT): `config.json`,
 * `model.safetensors`, `tok512.bin`. Resolved next to the built `dist/`, so it works from a clone and from an
 * installed package alike.
 */
export const embeddedModelDir = fileURLToPath(new URL("../assets/stories260k", import.meta.url));
