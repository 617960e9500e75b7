import type { Theme } from "vitepress";
import DefaultTheme from "vitepress/theme";
import PeftDemo from "./demo/PeftDemo.vue";
import "./style.css";

/** The default theme plus the `<PeftDemo />` component that `demo.md` uses. */
const theme: Theme = {
  extends: DefaultTheme,
  enhanceApp({ app }) {
    app.component("PeftDemo", PeftDemo);
  },
};

export default theme;
