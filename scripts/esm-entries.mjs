// Writes dist/index.js and dist/dummy.js, the entries of ES module programs. The library is
// built as CommonJS only (see tsup.config.ts); each of these imports the CommonJS entry and
// names every one of its exports, so `import { Pool } from 'multiprocessing-ts'` works
// without relying on Node's guess of a CommonJS module's exports.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

for (const name of ['index', 'dummy']) {
  const exported = Object.keys(require(`../dist/${name}.cjs`));
  const bad = exported.filter((n) => !IDENTIFIER.test(n) || n === 'default');
  if (bad.length > 0) throw new Error(`dist/${name}.cjs exports names an ES module entry cannot re-declare: ${bad.join(', ')}`);
  if (exported.length === 0) throw new Error(`dist/${name}.cjs exports nothing`);
  const text =
    `// The ES module entry: the library is built as CommonJS (see tsup.config.ts), one instance\n` +
    `// for programs of both kinds. Written by scripts/esm-entries.mjs.\n` +
    `import lib from './${name}.cjs';\n\n` +
    `export const {\n${exported.map((n) => `  ${n},`).join('\n')}\n} = lib;\n`;
  writeFileSync(new URL(`../dist/${name}.js`, import.meta.url), text);
  console.log(`dist/${name}.js: ${exported.length} exports`);
}
