import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type DefaultTheme, defineConfig } from "vitepress";

/**
 * Cross-origin isolation, so that the wasm backend may use shared-memory threads under `vitepress dev`. A
 * production host must send these two headers itself (the docs test server does; see the troubleshooting
 * page for hosts); without them the demo runs single-threaded.
 */
const isolationHeaders = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

const repositoryUrl = "https://github.com/peftjs/peftjs";

const docsRoot = fileURLToPath(new URL("../", import.meta.url));

/** The reference sidebar that `scripts/prepare.mjs` writes (package → entry → kind → symbol). */
function referenceSidebar(): DefaultTheme.SidebarItem[] {
  const file = `${docsRoot}reference/sidebar.json`;
  if (!existsSync(file)) return [{ text: "Overview", link: "/reference/" }];
  return JSON.parse(readFileSync(file, "utf8")) as DefaultTheme.SidebarItem[];
}

/** The packages' version (they are released together for now). */
function version(): string {
  const manifest = `${docsRoot}../packages/adapters/package.json`;
  return (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version;
}

const guideSidebar: DefaultTheme.SidebarItem[] = [
  {
    text: "Start",
    items: [
      { text: "What is peftjs?", link: "/guide/what-is-peftjs" },
      { text: "Installation", link: "/guide/installation" },
      { text: "Getting started", link: "/guide/getting-started" },
      { text: "What fits", link: "/guide/what-fits" },
    ],
  },
  {
    text: "Guides",
    items: [
      { text: "How LoRA, PiSSA and OLoRA work", link: "/guide/concepts" },
      { text: "Adapters: config, files, inits", link: "/guide/adapters" },
      { text: "PEFT features: DoRA, biases, …", link: "/guide/peft-features" },
      { text: "Merging and combining", link: "/guide/merging" },
      { text: "Serve with llama.cpp / wllama", link: "/guide/gguf" },
      { text: "Embeddings, tokens, modules to save", link: "/guide/embeddings-and-tokens" },
      { text: "The base-mutation hazard", link: "/guide/hazard" },
      { text: "Snapshots, fingerprints, journal", link: "/guide/state" },
      { text: "Tokenizers and chat templates", link: "/guide/tokenizers-and-chat" },
      { text: "Supported architectures", link: "/guide/architectures" },
      { text: "Loading from the Hugging Face Hub", link: "/guide/hub" },
      { text: "Backends", link: "/guide/backends" },
      { text: "Performance", link: "/guide/performance" },
    ],
  },
  {
    text: "Task guides",
    items: [
      { text: "Fine-tune a Hub model (Node)", link: "/guide/fine-tune-hub-model" },
      { text: "Fine-tune a whole model from the CLI", link: "/guide/cli" },
      { text: "Hub adapters in a browser worker", link: "/guide/browser-worker-adapters" },
      { text: "Converting a PEFT PiSSA adapter", link: "/guide/convert-pissa" },
      { text: "Many adapters on one model", link: "/guide/many-adapters" },
    ],
  },
  {
    text: "When things go wrong",
    items: [
      { text: "Troubleshooting", link: "/guide/troubleshooting" },
      { text: "What peftjs guarantees", link: "/guide/guarantees" },
      { text: "Checkpoint format", link: "/guide/checkpoint-format" },
    ],
  },
  { text: "Demo", items: [{ text: "Fine-tune in the browser", link: "/demo" }] },
  {
    text: "Packages",
    collapsed: true,
    items: [
      { text: "@peftjs/io", link: "/packages/io" },
      { text: "@peftjs/tensor", link: "/packages/tensor" },
      { text: "@peftjs/linalg", link: "/packages/linalg" },
      { text: "@peftjs/state", link: "/packages/state" },
      { text: "@peftjs/nn", link: "/packages/nn" },
      { text: "@peftjs/adapters", link: "/packages/adapters" },
      { text: "@peftjs/models", link: "/packages/models" },
      { text: "@peftjs/gguf", link: "/packages/gguf" },
      { text: "peftjs (command line)", link: "/packages/cli" },
    ],
  },
  {
    text: "Project",
    items: [
      { text: "Design card", link: "/design" },
      { text: "Changelog", link: "/changelog" },
    ],
  },
];

export default defineConfig({
  title: "peftjs",
  description:
    "Parameter-efficient fine-tuning (LoRA, PiSSA, OLoRA) for TypeScript, in Node and in the browser.",
  cleanUrls: true,
  head: [["link", { rel: "icon", type: "image/svg+xml", href: "/favicon.svg" }]],
  // Only pages are published: not the test fixtures (and their READMEs), not the generated partials that
  // pages include, not the example files' READMEs copied into public/ (served as files, not pages).
  srcExclude: ["test/**", "generated/**", "public/**", "node_modules/**", "README.md"],
  // Files of public/ (the model, the example adapters) are not pages; the docs test checks that they exist.
  ignoreDeadLinks: [/^\/(stories260k|examples)\//],
  vite: {
    server: { headers: isolationHeaders, fs: { allow: [fileURLToPath(new URL("../../", import.meta.url))] } },
    build: { chunkSizeWarningLimit: 4_000 },
  },
  themeConfig: {
    search: { provider: "local" },
    outline: { level: [2, 3] },
    nav: [
      { text: "Guide", link: "/guide/what-is-peftjs", activeMatch: "^/guide/" },
      { text: "Demo", link: "/demo" },
      { text: "Reference", link: "/reference/", activeMatch: "^/reference/" },
      { text: "Packages", link: "/packages/io", activeMatch: "^/packages/" },
      {
        text: `v${version()}`,
        items: [
          { text: "Changelog", link: "/changelog" },
          { text: "Releases", link: `${repositoryUrl}/releases` },
        ],
      },
    ],
    socialLinks: [{ icon: "github", link: repositoryUrl, ariaLabel: "peftjs on GitHub" }],
    sidebar: {
      "/reference/": referenceSidebar(),
      "/": guideSidebar,
    },
    footer: { message: "MIT licensed.", copyright: "peftjs contributors" },
  },
});
