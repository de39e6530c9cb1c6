// Gives dist/core.cjs plain export properties, set once at the end of the file, in place of the
// getters esbuild makes. esbuild's CommonJS output defines a getter per export at the top of the
// file (`__export`) and then copies each one into a second object as another getter
// (`__toCommonJS`), 186 of them for the core. With plain properties (and the single-file worker
// entries of the same day), the core's top level took 1.44-1.57 ms in new pool workers instead
// of 1.83-1.86 ms (timestamps in the workers; see docs/performance.md). Getters keep ES modules'
// live bindings, which the core does not need: the check below fails the build if a module of
// the source exports a `let` or `var`.
//
// The lines removed at the top are left empty, so the source map still matches every line.
// Last, any character outside ASCII left in the file (in comments) is escaped; see below.
// Run by `npm run build` after tsup.
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const file = new URL('../dist/core.cjs', import.meta.url);
const text = readFileSync(file, 'utf8');

/** Source files under src/ that export a binding that can change (`export let`, `export var`). */
function mutableExports(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...mutableExports(path));
    else if (name.endsWith('.ts') && /^export (let|var) /m.test(readFileSync(path, 'utf8'))) out.push(path);
  }
  return out;
}
const mutable = mutableExports(new URL('../src', import.meta.url).pathname);
if (mutable.length > 0) throw new Error(`core-exports: these modules export a let or var, which needs a live binding: ${mutable.join(', ')}`);

const block = /^var core_exports = \{\};\n__export\(core_exports, \{\n((?:  [\w$]+: \(\) => [\w$]+,?\n)+)\}\);\nmodule\.exports = __toCommonJS\(core_exports\);\n/m;
const m = block.exec(text);
if (!m) throw new Error("core-exports: dist/core.cjs has no export table in esbuild's form; update scripts/core-exports.mjs");
const pairs = [...m[1].matchAll(/^ {2}([\w$]+): \(\) => ([\w$]+),?$/gm)].map(([, name, local]) => [name, local]);
if (pairs.length === 0) throw new Error('core-exports: empty export table');

const MAP = '//# sourceMappingURL=core.cjs.map';
const at = text.lastIndexOf(MAP);
if (at < 0) throw new Error('core-exports: no source map comment at the end of dist/core.cjs');
const blank = '\n'.repeat(m[0].split('\n').length - 1);
const exportsText =
  '// The exports, as plain properties (scripts/core-exports.mjs).\n' +
  `module.exports = {\n${pairs.map(([name, local]) => `  ${name}: ${local},`).join('\n')}\n};\n` +
  'Object.defineProperty(module.exports, "__esModule", { value: true });\n';
let out = text.slice(0, m.index) + blank + text.slice(m.index + m[0].length, at) + exportsText + text.slice(at);
// ASCII only, so that workers can read the file as Latin-1 (child/core-loader.ts). esbuild
// escapes non-ASCII characters in code already; what is left is in comments, where an escape
// changes nothing.
out = out.replace(/[^\x00-\x7f]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
if (!/^[\x00-\x7f]*$/.test(out)) throw new Error('core-exports: dist/core.cjs is not ASCII after escaping');
writeFileSync(file, out);
console.log(`dist/core.cjs: ${pairs.length} exports as plain properties`);
