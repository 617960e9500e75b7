// Importing each built-in variant folder registers it (see CONTRIBUTING.md, "Adding an adapter variant").
import "./lora/index.js";
import "./pissa/index.js";
import "./olora/index.js";
