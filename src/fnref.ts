/**
 * Passing functions (and classes) by reference: a top-level exported function
 * crosses as `(module URL, export name)` and the worker imports it.
 *
 * The defining module of a function object is found through `node:inspector`
 * (`[[FunctionLocation]]` gives the script, the module scope gives the local
 * binding, and the module's export list gives its export name). Each lookup is
 * cached per function.
 * @module
 */
import type inspector from 'node:inspector';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isAbsolute } from 'node:path';
import { ProcessError } from './errors.js';
import { importModule, requireModule } from './internal/import-module.js';
import type { FnRefData } from './protocol/messages.js';

/** Brand carried by functions made with {@link fnRef}. @internal */
export const FN_REF = Symbol.for('multiprocessing-ts.fnref');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFunction = (...args: any[]) => any;
/** An untyped reference: any arguments, a result of unknown type (never `any`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type UntypedFunction = (...args: any[]) => unknown;

/** A function named by module and export, usable wherever a target function is. */
export type FunctionReference<F extends AnyFunction = UntypedFunction> = F & {
  /** @internal the module and export name the worker imports. */
  readonly [FN_REF]: FnRefData;
};

/** Typed view of a module's function exports, as returned by `fnRef<typeof import('…')>(url)`. */
export type ModuleReference<M> = {
  readonly [K in keyof M as M[K] extends AnyFunction ? K : never]: M[K] extends AnyFunction
    ? FunctionReference<M[K]>
    : never;
};

const requireHere = createRequire(import.meta.url);

function normalizeModule(module: string | URL, argName: string): string {
  if (module instanceof URL) return module.href;
  if (typeof module !== 'string' || module.length === 0) {
    throw new TypeError(
      `${argName} must be a module URL, an absolute path or a package name; received ${
        typeof module === 'string' ? 'an empty string' : typeof module
      }`,
    );
  }
  if (isAbsolute(module)) return pathToFileURL(module).href;
  if (module.startsWith('./') || module.startsWith('../')) {
    throw new TypeError(
      `${argName} is relative ('${module}'): workers cannot know what it is relative to. ` +
        `Pass new URL('${module}', import.meta.url) instead.`,
    );
  }
  return module;
}

function moduleKind(url: string): 'esm' | 'cjs' {
  if (!url.startsWith('file:')) return 'esm';
  // Node loads a .cjs file as CommonJS whatever loaded it so far (e.g. the library's own
  // worker entries in its CommonJS build, not yet required here)
  if (url.endsWith('.cjs')) return 'cjs';
  try {
    return requireHere.cache[fileURLToPath(url)] ? 'cjs' : 'esm';
  } catch {
    return 'esm';
  }
}

function makeRef(data: FnRefData, label: string): FunctionReference {
  const stub = function (): never {
    throw new ProcessError(
      `${label} is a reference to be run in a worker; it cannot be called here. Import the module to call it directly.`,
    );
  };
  Object.defineProperty(stub, 'name', { value: data.name });
  Object.defineProperty(stub, FN_REF, { value: Object.freeze({ ...data }) });
  return stub as unknown as FunctionReference;
}

/**
 * Names the functions of a module explicitly, for code where automatic lookup
 * cannot work (bundles, test runners that transform modules, the REPL,
 * `node -e`): `ref.name` is a reference to the export `name`, typed from `M`.
 *
 * @param module - module URL (`new URL('./work.js', import.meta.url)`), absolute path, or package name.
 * @example
 * ```ts
 * const work = fnRef<typeof import('./work.js')>(new URL('./work.js', import.meta.url));
 * new Process({ target: work.square, args: [3] });
 * ```
 */
export function fnRef<M extends object>(module: string | URL): ModuleReference<M>;
/**
 * Names one function explicitly by its module and export name, for code where
 * automatic lookup cannot work (bundles, test runners that transform modules,
 * the REPL, `node -e`). The result is accepted everywhere a function is;
 * without a type argument its result type is `unknown`.
 *
 * @param module - module URL (`new URL('./work.js', import.meta.url)`), absolute path, or package name.
 * @param exportName - name of the exported function (`'default'` for a default export).
 * @example
 * ```ts
 * const square = fnRef<(x: number) => number>(new URL('./work.js', import.meta.url), 'square');
 * await pool.map(square, [1, 2, 3]); // number[]
 * ```
 */
export function fnRef<F extends AnyFunction = UntypedFunction>(
  module: string | URL,
  exportName: string,
  // NoInfer: without a type argument F is the untyped default, not guessed from where the
  // reference is passed (a guess of `(item: never) => never` made `pool.map(fnRef(...), xs)` fail).
): FunctionReference<NoInfer<F>>;
export function fnRef(module: string | URL, exportName?: string): unknown {
  const url = normalizeModule(module, 'module');
  const kind = moduleKind(url);
  if (exportName === undefined) {
    const cache = new Map<string, FunctionReference>();
    return new Proxy(
      {},
      {
        get(_t, key) {
          if (typeof key !== 'string') return undefined;
          let ref = cache.get(key);
          if (!ref) {
            ref = makeRef({ url, name: key, kind }, `fnRef('${url}', '${key}')`);
            cache.set(key, ref);
          }
          return ref;
        },
      },
    );
  }
  if (typeof exportName !== 'string' || exportName.length === 0) {
    throw new TypeError(`exportName must be a non-empty string; received ${String(exportName)} (${typeof exportName})`);
  }
  return makeRef({ url, name: exportName, kind }, `fnRef('${url}', '${exportName}')`);
}

// ---------------------------------------------------------------------------
// Automatic lookup through node:inspector

interface RemoteObject {
  type: string;
  objectId?: string;
  description?: string;
  value?: unknown;
}
interface PropertyDescriptor {
  name: string;
  value?: RemoteObject;
}
interface InternalProperty {
  name: string;
  value?: RemoteObject & { value?: { scriptId: string; lineNumber: number; columnNumber: number } };
}

interface Inspector {
  session: inspector.Session;
  scripts: Map<string, string>;
  enabled: boolean;
  idleTimer: NodeJS.Timeout | null;
}

const LOOKUP = Symbol.for('multiprocessing-ts.fnref.lookup');
type LookupState = { insp: Inspector | null; cache: WeakMap<object, FnRefData>; lexerReady: boolean };

function lookupState(): LookupState {
  const g = globalThis as unknown as Record<symbol, LookupState | undefined>;
  return (g[LOOKUP] ??= { insp: null, cache: new WeakMap(), lexerReady: false });
}

function post<T>(session: inspector.Session, method: string, params?: object): T {
  let result: T | undefined;
  let error: Error | null = null;
  // The in-thread inspector session answers synchronously.
  session.post(method, params ?? {}, (err: Error | null, res: unknown) => {
    error = err;
    result = res as T;
  });
  if (error) throw error;
  if (result === undefined) throw new Error(`inspector did not answer ${method} synchronously`);
  return result;
}

function getInspector(): Inspector {
  const st = lookupState();
  if (st.insp) return st.insp;
  // Required on first use only: workers that never send functions do not load the inspector.
  const { Session } = requireHere('node:inspector') as typeof inspector;
  const session = new Session();
  session.connect();
  const scripts = new Map<string, string>();
  session.on('Debugger.scriptParsed', (msg: { params: { scriptId: string; url: string } }) => {
    scripts.set(msg.params.scriptId, msg.params.url);
  });
  st.insp = { session, scripts, enabled: false, idleTimer: null };
  return st.insp;
}

/** How long the Debugger domain stays on after the last lookup. */
const DEBUGGER_IDLE_MS = 2_000;

/**
 * Runs `fn` with the Debugger domain on (it reports every script's URL, and
 * serves script sources). Turning it on re-reports every loaded script, which
 * costs milliseconds in a big program, so it stays on while lookups keep
 * coming and goes off after {@link DEBUGGER_IDLE_MS} without one.
 */
function withDebugger<T>(insp: Inspector, fn: () => T): T {
  if (!insp.enabled) {
    post(insp.session, 'Debugger.enable');
    insp.enabled = true;
  }
  if (insp.idleTimer) insp.idleTimer.refresh();
  else {
    insp.idleTimer = setTimeout(() => {
      insp.idleTimer = null;
      insp.enabled = false;
      post(insp.session, 'Debugger.disable');
    }, DEBUGGER_IDLE_MS);
    insp.idleTimer.unref();
  }
  return fn();
}

const TMP = '__multiprocessing_ts_lookup__';

function cannotSend(fn: object, where: string, why: string): ProcessError {
  const name = (fn as { name?: string }).name || '(anonymous)';
  return new ProcessError(
    `The function '${name}'${where ? ` (defined in ${where})` : ''} cannot be sent to a worker: ${why}. ` +
      `Workers find a function by importing its module, so it must be a top-level exported function: ` +
      `define it at the top level of its module and export it (\`export function ${name === '(anonymous)' ? 'name' : name}(...) {...}\`), ` +
      `or name it explicitly with fnRef(moduleUrl, exportName).`,
  );
}

/**
 * Finds where `fn` can be imported from. Throws a {@link ProcessError} that
 * names the function and its file when a worker could not find it.
 * @internal
 */
export function lookupFunction(fn: object): FnRefData {
  const branded = (fn as { [FN_REF]?: FnRefData })[FN_REF];
  if (branded) return branded;
  const st = lookupState();
  const hit = st.cache.get(fn);
  if (hit) return hit;
  const name = (fn as { name?: string }).name ?? '';
  if (name.startsWith('bound ')) {
    throw cannotSend(fn, '', 'it is a bound function (made with .bind()), which no module exports');
  }

  const insp = getInspector();
  const g = globalThis as unknown as Record<string, unknown>;
  g[TMP] = fn;
  try {
    const found = withDebugger(insp, () => locate(insp, fn));
    st.cache.set(fn, found);
    return found;
  } finally {
    delete g[TMP];
  }
}

function locate(insp: Inspector, fn: object): FnRefData {
  const { session, scripts } = insp;
  const obj = post<{ result: RemoteObject }>(session, 'Runtime.evaluate', {
    expression: `globalThis.${TMP}`,
    objectGroup: 'mp-lookup',
  }).result;
  try {
    const props = post<{ internalProperties?: InternalProperty[] }>(session, 'Runtime.getProperties', {
      objectId: obj.objectId,
      ownProperties: true,
    });
    const internals = props.internalProperties ?? [];
    const loc = internals.find((p) => p.name === '[[FunctionLocation]]')?.value?.value;
    if (!loc) throw cannotSend(fn, '', 'it is a built-in or native function');
    const url = scripts.get(loc.scriptId) ?? '';
    const where = url ? `${url}:${loc.lineNumber + 1}` : '';
    if (!url.startsWith('file:')) {
      throw cannotSend(
        fn,
        where,
        url
          ? 'its module is not a file a worker can import'
          : 'it was defined in code that has no module file (the REPL, node -e, eval)',
      );
    }
    const fileUrl = url.replace(/[?#].*$/, '');

    if (moduleKind(fileUrl) === 'cjs') {
      const mod = requireHere.cache[fileURLToPath(fileUrl)];
      const exportsObj = mod?.exports as Record<string, unknown> | ((...a: unknown[]) => unknown) | undefined;
      if (exportsObj === fn) return { url: fileUrl, name: 'default', kind: 'cjs' };
      if (exportsObj && (typeof exportsObj === 'object' || typeof exportsObj === 'function')) {
        for (const key of Object.keys(exportsObj)) {
          let v: unknown;
          try {
            v = (exportsObj as Record<string, unknown>)[key];
          } catch {
            continue;
          }
          if (v === fn) return { url: fileUrl, name: key, kind: 'cjs' };
        }
      }
      throw cannotSend(fn, where, 'its module does not export it (module.exports has no property holding it)');
    }

    // ESM: find the module-level binding that holds fn, then its export name.
    const scopesId = internals.find((p) => p.name === '[[Scopes]]')?.value?.objectId;
    const scopes = scopesId
      ? post<{ result: PropertyDescriptor[] }>(session, 'Runtime.getProperties', {
          objectId: scopesId,
          ownProperties: true,
        }).result
      : [];
    const moduleScope = scopes.find((s) => s.value?.description === 'Module');
    const nested = scopes.some((s) => /^(Closure|Local|Block|Catch|With)\b/.test(s.value?.description ?? ''));
    // The module-level bindings that hold fn (an alias may be the exported one); bindings named
    // like the function are tried first, so the usual case costs one comparison.
    let source: string | null = null;
    let firstLocal: string | null = null;
    let exportName: string | null = null;
    if (moduleScope?.value?.objectId) {
      const vars = post<{ result: PropertyDescriptor[] }>(session, 'Runtime.getProperties', {
        objectId: moduleScope.value.objectId,
        ownProperties: true,
      }).result;
      const fname = (fn as { name?: string }).name;
      const candidates = vars
        .filter((v) => v.value?.type === 'function' && v.value.objectId)
        .sort((a, b) => Number(b.name === fname) - Number(a.name === fname));
      for (const v of candidates) {
        const same = post<{ result: RemoteObject }>(session, 'Runtime.callFunctionOn', {
          objectId: v.value!.objectId,
          functionDeclaration: `function () { return this === globalThis.${TMP}; }`,
          returnByValue: true,
        }).result;
        if (same.value !== true) continue;
        firstLocal ??= v.name;
        source ??= post<{ scriptSource: string }>(session, 'Debugger.getScriptSource', { scriptId: loc.scriptId }).scriptSource;
        if ((exportName = findExport(source, v.name)) !== null) break;
      }
    }
    if (firstLocal === null) {
      throw cannotSend(
        fn,
        where,
        nested
          ? 'it is defined inside another function (a closure), which no module exports'
          : 'it is not a top-level binding of its module (a method, an object property or a local)',
      );
    }
    if (exportName === null) {
      throw cannotSend(fn, where, `its module does not export it (add \`export\` to '${firstLocal}')`);
    }
    return { url: fileUrl, name: exportName, kind: 'esm' };
  } finally {
    post(session, 'Runtime.releaseObjectGroup', { objectGroup: 'mp-lookup' });
  }
}

function findExport(source: string, local: string): string | null {
  const st = lookupState();
  // Loaded on first lookup only: workers that never send functions do not pay for it.
  const lexer = requireHere('es-module-lexer') as typeof import('es-module-lexer');
  if (!st.lexerReady) {
    lexer.initSync();
    st.lexerReady = true;
  }
  let exports: readonly { n: string; ln?: string | undefined }[];
  try {
    exports = lexer.parse(source)[1];
  } catch {
    return null;
  }
  const localName = local === '*default*' ? undefined : local;
  for (const e of exports) {
    if (e.ln === localName && (localName !== undefined || e.n === 'default')) return e.n;
  }
  // `export default <expression>` has no local name: the binding is `*default*`.
  if (local === '*default*' && exports.some((e) => e.n === 'default')) return 'default';
  return null;
}

/**
 * Resolves a function reference in a worker: imports the module and returns the export.
 * @internal
 */
const loadedNamespaces = new Map<string, Record<string, unknown>>();

function pick(ns: Record<string, unknown>, ref: FnRefData): unknown {
  if (!(ref.name in ns)) {
    throw new ProcessError(
      `The module ${ref.url} has no export named '${ref.name}' in this worker. Check the export name given to fnRef().`,
    );
  }
  return ns[ref.name];
}

function loadCjs(ref: FnRefData): unknown {
  const exp = requireHere(ref.url.startsWith('file:') ? fileURLToPath(ref.url) : ref.url) as unknown;
  if (ref.name === 'default' && (typeof exp === 'function' || !(exp && typeof exp === 'object' && 'default' in exp))) {
    return exp;
  }
  return pick(exp as Record<string, unknown>, ref);
}

/**
 * The namespace of the ES module at `url`, loaded once per worker (required where it can be, see
 * `requireModule`, else imported) and kept for later references, blocking ones included.
 * @internal
 */
export async function loadEsModule(url: string): Promise<Record<string, unknown>> {
  let ns = loadedNamespaces.get(url);
  if (!ns) {
    ns = requireModule(url) ?? ((await importModule(url)) as Record<string, unknown>);
    loadedNamespaces.set(url, ns);
  }
  return ns;
}

export async function loadReference(ref: FnRefData): Promise<unknown> {
  if (ref.kind === 'cjs') return loadCjs(ref);
  return pick(await loadEsModule(ref.url), ref);
}

/**
 * The function a reference names, without waiting: CommonJS modules are
 * required; an ES module must have been loaded by `loadReference` before
 * (imports are asynchronous), or be one a worker may require (see
 * `requireModule`), else `ProcessError`. @internal
 */
export function loadReferenceSync(ref: FnRefData): unknown {
  if (ref.kind === 'cjs') return loadCjs(ref);
  let ns = loadedNamespaces.get(ref.url);
  if (!ns && (ns = requireModule(ref.url))) loadedNamespaces.set(ref.url, ns);
  if (!ns) {
    throw new ProcessError(
      `the value holds a reference to the function '${ref.name}' of ${ref.url}, whose module this worker has not loaded yet; a blocking (Sync) call cannot import it: use the async form (await)`,
    );
  }
  return pick(ns, ref);
}
