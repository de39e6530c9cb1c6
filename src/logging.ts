/**
 * Lifecycle logging, as Python's `multiprocessing.get_logger()` and
 * `log_to_stderr()`. Silent by default; `logToStderr()` or
 * `NODE_DEBUG=multiprocessing` turn it on.
 * @module
 */
import { writeSync } from 'node:fs';
import { state } from './internal/state.js';

/** Log levels, numbered as Python's `logging` (lower is more verbose). */
export const LogLevel = {
  /** 5: the most detailed internal steps. */
  SUBDEBUG: 5,
  /** 10: debugging detail. */
  DEBUG: 10,
  /** 20: lifecycle events (start, exit codes, worker replacement). */
  INFO: 20,
  /** 25: notable events below a warning. */
  SUBWARNING: 25,
  /** 30: something unexpected that the library handled. */
  WARNING: 30,
  /** 40: a failure. */
  ERROR: 40,
} as const;

/** A level name or number accepted by {@link Logger.setLevel} and {@link logToStderr}. */
export type LogLevelName = keyof typeof LogLevel;

/** A handler receives every record at or above the logger's level. */
export type LogHandler = (record: LogRecord) => void;

/** One log event. */
export interface LogRecord {
  /** Numeric level (see {@link LogLevel}). */
  level: number;
  /** Name of the level, e.g. `INFO`. */
  levelName: string;
  /** Name of the process (or worker) that logged it, e.g. `MainProcess`, `Process-1`. */
  processName: string;
  /** The message text. */
  message: string;
  /** When it was logged, in milliseconds since the epoch. */
  time: number;
}

/** The library's logger (one per thread): Python's `multiprocessing` logger. */
export interface Logger {
  /** Current threshold; records below it are dropped. */
  readonly level: number;
  /** Sets the threshold, by number or by name (`'INFO'`). */
  setLevel(level: number | LogLevelName): void;
  /** Adds a handler; returns a function that removes it. */
  addHandler(handler: LogHandler): () => void;
  /** Logs at DEBUG. */
  debug(message: string): void;
  /** Logs at INFO. */
  info(message: string): void;
  /** Logs at WARNING. */
  warn(message: string): void;
  /** Logs at ERROR. */
  error(message: string): void;
  /** Logs at any level. */
  log(level: number, message: string): void;
  /** True when a record at `level` would be emitted. */
  isEnabledFor(level: number): boolean;
}

/**
 * Whether NODE_DEBUG names `section`, as Node's `util.debuglog` decides it: a comma-separated
 * list of names, compared without regard to case, where `*` stands for any run of characters.
 * (Read here rather than through `node:util`, whose loading costs every new worker a few
 * tenths of a millisecond.)
 */
function nodeDebugNames(section: string): boolean {
  const list = process.env.NODE_DEBUG;
  if (!list) return false;
  return list.split(',').some((name) => {
    const pattern = name.replace(/[|\\{}()[\]^$+?.]/g, '\\$&').replace(/\*/g, '.*');
    return new RegExp(`^${pattern}$`, 'i').test(section);
  });
}

const nodeDebug = { enabled: nodeDebugNames('multiprocessing') };
const KEY = Symbol.for('multiprocessing-ts.logger');

function levelName(level: number): string {
  for (const [name, value] of Object.entries(LogLevel)) if (value === level) return name;
  return `Level ${level}`;
}

function toLevel(level: number | LogLevelName, argName: string): number {
  if (typeof level === 'number' && Number.isFinite(level)) return level;
  if (typeof level === 'string' && Object.hasOwn(LogLevel, level)) return LogLevel[level];
  throw new TypeError(
    `${argName} must be a level number or one of ${Object.keys(LogLevel).join(', ')}; received ${String(level)} (${typeof level})`,
  );
}

/** Writes a record to stderr synchronously, in Python's `[LEVEL/Process] message` format. */
export function stderrHandler(record: LogRecord): void {
  const line = `[${record.levelName}/${record.processName}] ${record.message}\n`;
  try {
    writeSync(2, line);
  } catch {
    /* stderr closed: nothing to do */
  }
}

function createLogger(): Logger {
  // NODE_DEBUG=multiprocessing enables DEBUG output to stderr from the start.
  const handlers = new Set<LogHandler>();
  let threshold: number = nodeDebug.enabled ? LogLevel.DEBUG : LogLevel.WARNING;
  if (nodeDebug.enabled) handlers.add(stderrHandler);
  const logger: Logger = {
    get level() {
      return threshold;
    },
    setLevel(level) {
      threshold = toLevel(level, 'level');
    },
    addHandler(handler) {
      if (typeof handler !== 'function') {
        throw new TypeError(`handler must be a function; received ${typeof handler}`);
      }
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
    isEnabledFor(level) {
      return level >= threshold && handlers.size > 0;
    },
    log(level, message) {
      if (level < threshold || handlers.size === 0) return;
      const record: LogRecord = {
        level,
        levelName: levelName(level),
        processName: state().self.name,
        message,
        time: Date.now(),
      };
      for (const h of handlers) {
        try {
          h(record);
        } catch {
          /* a broken handler must not break the library */
        }
      }
    },
    debug(message) {
      logger.log(LogLevel.DEBUG, message);
    },
    info(message) {
      logger.log(LogLevel.INFO, message);
    },
    warn(message) {
      logger.log(LogLevel.WARNING, message);
    },
    error(message) {
      logger.log(LogLevel.ERROR, message);
    },
  };
  return logger;
}

/**
 * Returns the library's logger (Python's `multiprocessing.get_logger()`).
 * Nothing is printed until a handler is added, `logToStderr()` is called, or
 * `NODE_DEBUG=multiprocessing` is set.
 */
export function getLogger(): Logger {
  const g = globalThis as unknown as Record<symbol, Logger | undefined>;
  return (g[KEY] ??= createLogger());
}

/**
 * Sends the library's log to stderr (Python's `log_to_stderr(level)`), and
 * returns the logger.
 * @param level - threshold to set; default: leave the level as it is (WARNING unless changed).
 * @example
 * ```ts
 * logToStderr('INFO'); // [INFO/MainProcess] process Process-1 started, pid 1234
 * ```
 */
export function logToStderr(level?: number | LogLevelName): Logger {
  const logger = getLogger();
  if (level !== undefined) logger.setLevel(toLevel(level, 'level'));
  const g = globalThis as unknown as Record<symbol, boolean | undefined>;
  const flag = Symbol.for('multiprocessing-ts.logger.stderr');
  if (!g[flag] && !nodeDebug.enabled) {
    g[flag] = true;
    logger.addHandler(stderrHandler);
  }
  return logger;
}

/** Debug line for internal tracing, shown with NODE_DEBUG=multiprocessing. @internal */
export function trace(message: string): void {
  getLogger().debug(message);
}
