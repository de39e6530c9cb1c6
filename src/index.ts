/**
 * multiprocessing-ts: Python's `multiprocessing` for TypeScript on Node.js.
 *
 * This file lists the whole public API; each name lives in the module of its
 * concept. Everything here works on the default context; `getContext(method)`
 * gives the same factories bound to one start method.
 * @module
 */

// Processes
export {
  Process,
  currentProcess,
  parentProcess,
  activeChildren,
  cpuCount,
  isMain,
  type ProcessOptions,
  type StartMethod,
} from './process.js';

// Contexts and start methods
export {
  getContext,
  setStartMethod,
  getStartMethod,
  getAllStartMethods,
  type Context,
  type StartMethodName,
} from './context.js';

// Synchronisation (shared memory, any worker, both start methods)
export {
  Lock,
  RLock,
  Semaphore,
  BoundedSemaphore,
  Condition,
  Event,
  Barrier,
  type AcquireOptions,
  type BarrierOptions,
} from './synchronize.js';

// Shared values and arrays
export {
  Value,
  SharedArray,
  SharedArray as Array,
  RawValue,
  RawArray,
  type TypeCode,
  type BigTypeCode,
  type ValueOf,
  type TypedArrayOf,
  type ArrayInit,
} from './sharedctypes.js';

// Named shared memory
export { SharedMemory, ShareableList, type SharedMemoryOptions, type ShareableItem } from './shared-memory.js';

// Pools
export {
  Pool,
  ThreadPool,
  AsyncResult,
  ResultIterator,
  type PoolOptions,
  type TaskOptions,
  type MapOptions,
  type IterOptions,
  type AsyncOptions,
  type PoolStats,
  type WorkerStats,
} from './pool.js';
export { currentTask, TaskContext } from './internal/task-context.js';

// Queues (shared memory, any worker, both start methods)
export {
  Queue,
  JoinableQueue,
  SimpleQueue,
  type PutOptions,
  type GetOptions,
  type QueueOptions,
} from './queues.js';

// Pipes and connections
export { Connection, Pipe, wait, type PipeOptions, type RecvOptions, type BytesLike } from './connection.js';

// Passing functions and data
export { fnRef, type FunctionReference, type ModuleReference } from './fnref.js';
export { registerClass } from './reduction.js';

// Connections over sockets (Python's Listener / Client, wire-compatible with Python)
export {
  Listener,
  Client,
  deliverChallenge,
  answerChallenge,
  type Address,
  type InetAddress,
  type Family,
  type ListenerOptions,
  type ClientOptions,
  type AcceptOptions,
  type SocketConnectionOptions,
  type ChallengeOptions,
  type AuthDigest,
  type ChallengeForm,
} from './listener.js';

// Progress bars
export { progress, ProgressBar, type ProgressOptions } from './progress.js';

// Errors
export {
  ProcessError,
  TimeoutError,
  Empty,
  Full,
  EOFError,
  BrokenBarrierError,
  AuthenticationError,
  BufferTooShort,
  WorkerLostError,
  RemoteError,
} from './errors.js';

// Logging
export {
  getLogger,
  logToStderr,
  LogLevel,
  type Logger,
  type LogHandler,
  type LogRecord,
  type LogLevelName,
} from './logging.js';

// Shared option types
export type { WaitOptions } from './internal/validators.js';
export type { ResourceLimits } from './backends/backend.js';

// Managers (objects kept by a server, reached through proxies, local or remote)
export {
  Manager,
  BaseManager,
  SyncManager,
  Server,
  BaseProxy,
  DictProxy,
  ListProxy,
  NamespaceProxy,
  ValueProxy,
  ArrayProxy,
  QueueProxy,
  JoinableQueueProxy,
  AcquirerProxy,
  SemaphoreProxy,
  ConditionProxy,
  EventProxy,
  BarrierProxy,
  PoolProxy,
  registerProxyType,
  DEFAULT_MANAGER_MAX_MESSAGE_SIZE,
  type AutoProxy,
  type Remote,
  type Token,
  type ServerInfo,
  type ProxyInit,
  type DictKey,
  type ManagerOptions,
  type StartOptions,
  type RegisterOptions,
  type ManagedFactory,
  type ProxyType,
  type ProxyAcquireOptions,
  type ProxyQueueOptions,
} from './managers.js';
