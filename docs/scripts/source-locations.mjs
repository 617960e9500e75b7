/**
 * Where each exported symbol of a package entry is declared in the repository's sources: the reference pages
 * are rendered from the built declaration files (what users get), and this map adds the link to the source.
 */
import { relative } from "node:path";
import ts from "typescript";
import { repositoryRoot } from "./workspace-packages.mjs";

/**
 * @param {string[]} sourceEntries absolute paths of `src/<entry>.ts` files
 * @returns {Map<string, Map<string, { file: string, line: number }>>} per entry file: exported name → the
 *   repository-relative file and 1-based line of its declaration (only declarations inside the repository's
 *   `packages/<name>/src/`; a symbol re-exported from another package's built files has none).
 */
export function sourceLocations(sourceEntries) {
  const program = ts.createProgram(sourceEntries, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    noEmit: true,
    skipLibCheck: true,
    types: ["node"],
  });
  const checker = program.getTypeChecker();
  const result = new Map();
  for (const entry of sourceEntries) {
    const locations = new Map();
    const sourceFile = program.getSourceFile(entry);
    const moduleSymbol = sourceFile === undefined ? undefined : checker.getSymbolAtLocation(sourceFile);
    for (const exported of moduleSymbol === undefined ? [] : checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const declaration = symbol.declarations?.[0];
      if (declaration === undefined) continue;
      const file = relative(repositoryRoot, declaration.getSourceFile().fileName).replaceAll("\\", "/");
      if (!/^packages\/[^/]+\/src\//.test(file)) continue;
      const { line } = declaration.getSourceFile().getLineAndCharacterOfPosition(declaration.getStart());
      locations.set(exported.name, { file, line: line + 1 });
    }
    result.set(entry, locations);
  }
  return result;
}
