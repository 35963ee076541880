import { InvalidOptionsError } from '../core/errors.js'
import { assertKnownOptions } from '../core/options.js'
import { isPlainObject } from '../core/json.js'
import type { FileSyncOptions } from '../files/file-sync.js'
import type { FileStore } from '../files/store.js'
import type { ModelClass } from '../orm/types.js'
import type { Progress } from '../replica/replica.js'
import type { Storage } from '../replica/storage.js'
import type { SyncOptions } from '../sync/index.js'

/** What `openDatabase` takes: the name, the models, where the replica lives, and how it syncs. */
export interface DatabaseOptions {
  /** The database's name (one replica per name and storage). */
  name: string
  /** Every model the app uses; collection names must be unique. */
  models: ModelClass[]
  /** Where the replica lives; default `memoryStorage()`. */
  storage?: Storage
  /** The version of the models' schema that mutations are written under; default 1. */
  schemaVersion?: number
  /** A query that no index serves throws `MissingIndexError` instead of scanning its collection. */
  strictIndexes?: boolean
  /**
   * Progress of long work: building a new index over a large collection at
   * open (`phase: 'index'`), and a first sync from a server that takes
   * several pages (`phase: 'sync'`: documents received of the total the
   * server named, also in `db.sync.status.progress`).
   */
  onProgress?: (progress: Progress | { phase: 'sync'; done: number; total: number }) => void
  /**
   * Log operations slower than `slowMs` (default 50) to `log` (default console.warn).
   * Also turned on by the environment variable TIDEPOOL_DEBUG (its value: the threshold in ms).
   */
  debug?:
    | boolean
    | {
        /** The threshold in ms (default 50). */
        slowMs?: number
        /** Where the lines go (default console.warn). */
        log?: (line: string) => void
      }
  /** Sync with a Tidepool server. */
  sync?: SyncOptions
  /**
   * Sync without a server, through file stores (a shared folder, WebDAV):
   * the stores to link at once, or options with them. A replica syncs with a
   * server or through files, not both.
   */
  files?: FileStore[] | (FileSyncOptions & { stores?: FileStore[] })
}

const OPTIONS = ['name', 'models', 'storage', 'schemaVersion', 'strictIndexes', 'onProgress', 'debug', 'sync', 'files']
const SYNC_OPTIONS = ['url', 'token', 'batchSize', 'pollInterval', 'socket', 'transport', 'serviceWorker']
const FILES_OPTIONS = ['stores', 'label', 'onProgress', 'onWarning', 'interval', 'partBytes']

/** Checks what `openDatabase` was given, with an error that names the option at fault. */
export function checkOptions(options: DatabaseOptions): void {
  if (!isPlainObject(options as unknown)) throw new InvalidOptionsError('options', 'openDatabase takes { name, models, storage }')
  assertKnownOptions('openDatabase', options, OPTIONS)
  if (options.sync !== undefined && options.files !== undefined) {
    throw new InvalidOptionsError('files', 'a replica syncs either with a server (sync) or through files (files), not both')
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new InvalidOptionsError('onProgress', 'must be a function')
  if (isPlainObject(options.files as unknown)) {
    assertKnownOptions('files', options.files!, FILES_OPTIONS)
    const { interval, partBytes } = options.files as FileSyncOptions
    if (interval !== undefined && !(Number.isInteger(interval) && interval >= 0)) throw new InvalidOptionsError('files.interval', 'must be a whole number of milliseconds, 0 or more')
    if (partBytes !== undefined && !(Number.isInteger(partBytes) && partBytes >= 256)) throw new InvalidOptionsError('files.partBytes', 'must be a whole number of bytes, 256 or more')
  }
  if (options.sync !== undefined) {
    if (!isPlainObject(options.sync as unknown) || typeof options.sync.url !== 'string' || !/^https?:\/\//.test(options.sync.url)) {
      throw new InvalidOptionsError('sync', 'sync needs { url: "http(s)://…", token?: () => jwt }')
    }
    assertKnownOptions('sync', options.sync, SYNC_OPTIONS)
    if (options.sync.token !== undefined && typeof options.sync.token !== 'function') throw new InvalidOptionsError('sync.token', 'must be a function returning the token')
    if (options.sync.serviceWorker !== undefined && typeof options.sync.serviceWorker !== 'boolean') throw new InvalidOptionsError('sync.serviceWorker', 'must be true or false')
    if (options.sync.serviceWorker && !options.storage?.shared) throw new InvalidOptionsError('sync.serviceWorker', 'a service worker pushes from a storage it shares with the page: use indexedDbStorage')
  }
  if (typeof options.name !== 'string' || options.name === '') throw new InvalidOptionsError('name', 'a database needs a name')
  if (!Array.isArray(options.models)) throw new InvalidOptionsError('models', 'models must be an array of model classes')
  const schemaVersion = options.schemaVersion ?? 1
  if (!Number.isInteger(schemaVersion) || schemaVersion < 1) throw new InvalidOptionsError('schemaVersion', 'must be a positive integer')
}

export function debugOptions(d: DatabaseOptions['debug']): { slowMs: number; log: (line: string) => void } | undefined {
  const env = typeof process !== 'undefined' ? process.env?.TIDEPOOL_DEBUG : undefined
  if (!d && !env) return undefined
  const o = typeof d === 'object' ? d : {}
  return { slowMs: o.slowMs ?? (Number(env) || 50), log: o.log ?? (line => console.warn(line)) }
}

/** How `db.run` runs a transaction: confirmation, retries and their backoff, read-only, the model cache. */
export interface RunOptions {
  /**
   * `'server'`: fail fast with `OfflineError` (nothing committed) when not
   * connected; otherwise commit, wait for the server, and re-run `fn` when it
   * rejects the mutation. If the connection drops while waiting, throws
   * `OfflineError` with `committed: true` (the mutation stays queued).
   */
  confirm?: 'local' | 'server'
  /** Retries after a retryable failure (default 4, so up to 5 attempts). */
  retries?: number
  /** First backoff in ms (default 10); doubles each retry, ±10% jitter. */
  initialBackoff?: number
  /** Cap on a backoff in ms (default 500). */
  maxBackoff?: number
  /** Any write throws `WriteAttemptedInReadOnlyTxError`. */
  readOnly?: boolean
  /** Reading a document twice returns the first instance instead of throwing. */
  cacheModels?: boolean
}

const RUN_DEFAULTS = { retries: 4, initialBackoff: 10, maxBackoff: 500, readOnly: false, cacheModels: false, confirm: 'local' as 'local' | 'server' }

export function checkRunOptions(o: unknown): Required<RunOptions> {
  if (!isPlainObject(o)) throw new InvalidOptionsError('options', 'run options must be an object')
  for (const [k, v] of Object.entries(o)) {
    if (!(k in RUN_DEFAULTS)) throw new InvalidOptionsError(k, 'unknown option')
    if (k === 'confirm') {
      if (v !== 'local' && v !== 'server') throw new InvalidOptionsError(k, "must be 'local' or 'server'")
      continue
    }
    const expected = typeof RUN_DEFAULTS[k as keyof RunOptions]
    if (typeof v !== expected) throw new InvalidOptionsError(k, `must be a ${expected}`)
    if (expected === 'number' && (!Number.isInteger(v) || (v as number) < 0)) throw new InvalidOptionsError(k, 'must be a non-negative integer')
  }
  const opts = { ...RUN_DEFAULTS, ...o } as Required<RunOptions>
  if (opts.initialBackoff > opts.maxBackoff) throw new InvalidOptionsError('initialBackoff', 'cannot exceed maxBackoff')
  return opts
}
