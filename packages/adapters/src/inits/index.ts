// Importing each built-in init folder registers it (see CONTRIBUTING.md, "Adding an init method").
import "./default/index.js";
import "./gaussian/index.js";
import "./random/index.js";
import "./pissa/index.js";
import "./olora/index.js";
