// Importing each built-in variant folder registers it (see CONTRIBUTING.md, "Adding a LoRA variant").
import "./plain/index.js";
