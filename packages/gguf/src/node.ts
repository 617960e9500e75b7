/**
 * `@peftjs/gguf/node`: GGUF files on disk. Writing streams to a temporary file beside the target and renames it
 * only when complete; tokenizers are found in model folders.
 * @packageDocumentation
 */
export { openGgufFile, writeGgufFile } from "./node/gguf-file.js";
export { readVocabularyFromFolder, type VocabularyFiles } from "./node/vocabulary-folder.js";
