/** Single-file components, for TypeScript outside Vite (the typecheck); Vite compiles them itself. */
declare module "*.vue" {
  import type { DefineComponent } from "vue";

  const component: DefineComponent;
  export default component;
}
