import type { MutationResult, Rejection } from '../core/changes.js'
import type { Syncer } from '../core/syncer.js'
import type { Replica } from '../replica/replica.js'
import { SyncEngine, type EngineOptions } from './engine.js'
import type { SocketFactory, SocketLike } from './pokes.js'
import { httpTransport, type Transport } from './transport.js'
import { askWorkerToPush } from './worker-push.js'

/** How a database syncs with a Tidepool server: `openDatabase({ sync })`. */
export interface SyncOptions {
  /** The Tidepool server, e.g. `http://127.0.0.1:4000`. */
  url: string
  /** Returns the bearer token (a JWT); asked again after a 401. */
  token?: () => string | Promise<string>
  /** Mutations per push request (default 500). */
  batchSize?: number
  /** A sync round this often even without pokes, in ms: the watchdog (default 30,000; 0: none). */
  pollInterval?: number
  /** Pokes over a WebSocket (default true; `false`: polling only). */
  socket?: boolean
  /** How to reach the server; default HTTP to `url` (injected in tests, or for other transports). */
  transport?: Transport
  /**
   * A service worker (running `syncWorker` from `tidepool/service-worker`)
   * pushes the outbox, also after the page is gone (Background Sync); the
   * page's leader tab only pulls and listens for pokes.
   */
  serviceWorker?: boolean
}

/** The WebSocket to use: the platform's, or the `ws` package in Node versions without one. */
async function socketFactory(): Promise<SocketFactory> {
  const native = (globalThis as { WebSocket?: new (url: string) => SocketLike }).WebSocket
  if (native) return url => new native(url)
  // a specifier held in a variable: bundlers for the browser leave Node's `ws` out
  const ws = 'ws'
  const { default: WS } = (await import(ws)) as typeof import('ws')
  return url => new WS(url) as unknown as SocketLike
}

/** What a database's `sync` offers, whether this tab runs the engine or another tab does (src/tabs). */
export interface Sync extends Syncer {
  /** Whether the last round reached the server. */
  readonly connected: boolean
  /** Whether this tab holds the server connection (always true outside shared browser replicas). */
  readonly leader: boolean
  /** Calls `listener` for each mutation the server rejects. Returns a function that stops it. */
  onRejected(listener: (r: Rejection) => void): () => void
  /**
   * Runs a push-and-pull round now (or right after the one in flight);
   * rejects when it did not reach the server (`OfflineError`), the server
   * refused the token (`AuthenticationError`) or failed otherwise.
   */
  syncNow(): Promise<void>
  /** Why this tab's last round failed (undefined once one succeeds, and in tabs that do not lead). */
  readonly failure: unknown
  /** Resolves with the server's result for a mutation; rejects when the connection is lost first. */
  waitFor(mutationId: string): Promise<MutationResult>
  /** Resolves when this tab's round in flight, if any, has ended (it starts none). */
  idle(): Promise<void>
}

export async function startSync(replica: Replica, options: SyncOptions): Promise<SyncEngine> {
  const engineOptions: EngineOptions = {
    batchSize: options.batchSize,
    pollInterval: options.pollInterval,
    ...(options.socket === false ? {} : { socket: await socketFactory() }),
    ...(options.serviceWorker ? { pushVia: askWorkerToPush(replica.shared?.channel ?? '') } : {}),
  }
  const engine = new SyncEngine(replica, options.transport ?? httpTransport(options.url, options.token), engineOptions)
  engine.start()
  return engine
}

export { SyncEngine } from './engine.js'
export type { SyncPhase, SyncStatus } from '../core/syncer.js'
export { httpTransport, type Transport } from './transport.js'
