import { defineConfig } from "vitepress";

export default defineConfig({
  title: "peftjs",
  description:
    "Parameter-efficient fine-tuning (LoRA, PiSSA, OLoRA) for TypeScript, in Node and in the browser.",
  cleanUrls: true,
  themeConfig: {
    nav: [
      { text: "Guide", link: "/guide/getting-started" },
      { text: "Packages", link: "/packages/io" },
      { text: "Design", link: "/design" },
    ],
    sidebar: [
      {
        text: "Guide",
        items: [
          { text: "Getting started", link: "/guide/getting-started" },
          { text: "Adapters: LoRA, PiSSA, OLoRA", link: "/guide/adapters" },
          { text: "The base-mutation hazard", link: "/guide/hazard" },
          { text: "Snapshots, fingerprints, journal", link: "/guide/state" },
          { text: "Backends", link: "/guide/backends" },
          { text: "Performance", link: "/guide/performance" },
        ],
      },
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
      { text: "Design", items: [{ text: "Design card", link: "/design" }] },
    ],
  },
});
