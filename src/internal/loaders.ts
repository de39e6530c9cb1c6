/**
 * The parent's module loader flags (`--require`, `--import`, `--loader`),
 * made absolute so that a worker resolves them the same way whatever its
 * working directory.
 * @internal
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import type { LoaderSpec } from '../protocol/messages.js';

/** Resolves a loader specifier as Node does for the command line: relative to the working directory. */
export function resolveLoaderSpecifier(specifier: string, forImport: boolean): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(specifier) && !/^[a-z]:[\\/]/i.test(specifier)) return specifier;
  if (isAbsolute(specifier) || specifier.startsWith('.')) {
    const p = resolvePath(process.cwd(), specifier);
    return forImport ? pathToFileURL(p).href : p;
  }
  const req = createRequire(pathToFileURL(resolvePath(process.cwd(), 'noop.js')).href);
  try {
    const p = req.resolve(specifier);
    return forImport ? pathToFileURL(p).href : p;
  } catch {
    return specifier;
  }
}

const FLAGS: Record<string, keyof LoaderSpec> = {
  '--require': 'requires',
  '-r': 'requires',
  '--import': 'imports',
  '--loader': 'loaders',
  '--experimental-loader': 'loaders',
};

function splitArgs(s: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out;
}

/**
 * Walks a Node argument list, calling `onLoader` for each loader flag and
 * `onOther` for everything else.
 */
function scan(args: string[], onLoader: (kind: keyof LoaderSpec, value: string) => void, onOther: (arg: string) => void): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const kind = FLAGS[flag];
    if (kind === undefined) {
      onOther(a);
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : args[++i];
    if (value !== undefined) onLoader(kind, value);
  }
}

let cached: LoaderSpec | null = null;

/** Loader flags of this process (command line and NODE_OPTIONS), resolved to absolute form. */
export function loaderSpec(): LoaderSpec {
  if (cached) return cached;
  const spec: LoaderSpec = { requires: [], imports: [], loaders: [] };
  scan(
    [...splitArgs(process.env.NODE_OPTIONS ?? ''), ...withoutRunFlags(process.execArgv)],
    (kind, value) => spec[kind].push(resolveLoaderSpecifier(value, kind !== 'requires')),
    () => {},
  );
  cached = spec;
  return spec;
}

/**
 * Flags that say what the parent runs, not how Node runs it. A child given `-e <code>` would run
 * the parent's program again instead of its entry file (and start children of its own: a
 * program run with `node -e` made processes without end), `-i` a REPL, `-c` a syntax check.
 */
const RUN_FLAGS_WITH_VALUE = new Set(['-e', '--eval', '-p', '--print', '-pe', '--watch-path']);
const RUN_FLAGS = new Set(['-i', '--interactive', '-c', '--check', '--test', '--test-only', '--watch', '--watch-preserve-output']);

/** `args` without the flags (and their values) that say what to run. */
export function withoutRunFlags(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (RUN_FLAGS_WITH_VALUE.has(name)) {
      if (eq < 0) i++; // the value is the next argument
      continue;
    }
    if (!RUN_FLAGS.has(name)) out.push(a);
  }
  return out;
}

/**
 * `process.execArgv` for a child process: loader flags made absolute (the child may have another
 * cwd), and without the flags that say what to run.
 */
export function portableExecArgv(): string[] {
  const out: string[] = [];
  scan(
    withoutRunFlags(process.execArgv),
    (kind, value) => {
      const flag = kind === 'requires' ? '--require' : kind === 'imports' ? '--import' : '--loader';
      out.push(flag, resolveLoaderSpecifier(value, kind !== 'requires'));
    },
    (a) => out.push(a),
  );
  return out;
}
