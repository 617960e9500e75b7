import { defineConfig } from "vitepress";

/**
 * Cross-origin isolation, so that the wasm backend may use shared-memory threads under `vitepress dev`. A
 * production host must send these two headers itself (the docs test server does); without them the demo
 * runs single-threaded.
 */
const isolationHeaders = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

export default defineConfig({
  title: "peftjs",
  description:
    "Parameter-efficient fine-tuning (LoRA, PiSSA, OLoRA) for TypeScript, in Node and in the browser.",
  cleanUrls: true,
  head: [["link", { rel: "icon", type: "image/svg+xml", href: "/favicon.svg" }]],
  ignoreDeadLinks: [/^\.\.?\/.*\.(ts|md)$/],
  vite: {
    server: { headers: isolationHeaders },
    build: { chunkSizeWarningLimit: 4_000 },
  },
  themeConfig: {
    nav: [
      { text: "Guide", link: "/guide/what-is-peftjs" },
      { text: "Demo", link: "/demo" },
      { text: "Reference", link: "/reference/" },
      { text: "Packages", link: "/packages/io" },
      { text: "Design", link: "/design" },
    ],
    sidebar: [
      {
        text: "Guide",
        items: [
          { text: "What is peftjs?", link: "/guide/what-is-peftjs" },
          { text: "Getting started", link: "/guide/getting-started" },
          { text: "Concepts: LoRA, PiSSA, OLoRA", link: "/guide/concepts" },
          { text: "Adapters: LoRA, PiSSA, OLoRA", link: "/guide/adapters" },
          { text: "Converting a PEFT PiSSA adapter", link: "/guide/convert-pissa" },
          { text: "Merging and combining", link: "/guide/merging" },
          { text: "Serve with llama.cpp / wllama", link: "/guide/gguf" },
          { text: "Many adapters on one model", link: "/guide/many-adapters" },
          { text: "The base-mutation hazard", link: "/guide/hazard" },
          { text: "Snapshots, fingerprints, journal", link: "/guide/state" },
          { text: "Tokenizers and chat templates", link: "/guide/tokenizers-and-chat" },
          { text: "Loading from the Hugging Face Hub", link: "/guide/hub" },
          { text: "Backends", link: "/guide/backends" },
          { text: "Performance", link: "/guide/performance" },
        ],
      },
      { text: "Demo", items: [{ text: "Fine-tune in the browser", link: "/demo" }] },
      {
        text: "Packages",
        items: [
          { text: "@peftjs/io", link: "/packages/io" },
          { text: "@peftjs/tensor", link: "/packages/tensor" },
          { text: "@peftjs/linalg", link: "/packages/linalg" },
          { text: "@peftjs/state", link: "/packages/state" },
          { text: "@peftjs/adapters", link: "/packages/adapters" },
          { text: "@peftjs/models", link: "/packages/models" },
          { text: "peftjs (command line)", link: "/packages/cli" },
        ],
      },
      {
        text: "API reference",
        collapsed: true,
        items: [
          { text: "Overview", link: "/reference/" },
          { text: "@peftjs/io", link: "/reference/io/" },
          { text: "@peftjs/tensor", link: "/reference/tensor/" },
          { text: "@peftjs/linalg", link: "/reference/linalg/" },
          { text: "@peftjs/state", link: "/reference/state/" },
          { text: "@peftjs/adapters", link: "/reference/adapters/" },
          { text: "@peftjs/models", link: "/reference/models/" },
        ],
      },
      { text: "Design", items: [{ text: "Design card", link: "/design" }] },
    ],
  },
});
