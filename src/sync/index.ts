import type { Replica } from '../replica/replica.js'
import { SyncEngine, type EngineOptions, type SocketFactory, type SocketLike } from './engine.js'
import { httpTransport, type Transport } from './transport.js'

export interface SyncOptions {
  /** The Tidepool server, e.g. `http://127.0.0.1:4000`. */
  url: string
  /** Returns the bearer token (a JWT); asked again after a 401. */
  token?: () => string | Promise<string>
  batchSize?: number
  pollInterval?: number
  /** Pokes over a WebSocket (default true; `false`: polling only). */
  socket?: boolean
  /** How to reach the server; default HTTP to `url` (injected in tests, or for other transports). */
  transport?: Transport
}

/** The WebSocket to use: the platform's, or the `ws` package in Node versions without one. */
async function socketFactory(): Promise<SocketFactory> {
  const native = (globalThis as { WebSocket?: new (url: string) => SocketLike }).WebSocket
  if (native) return url => new native(url)
  const { default: WS } = await import('ws')
  return url => new WS(url) as unknown as SocketLike
}

export async function startSync(replica: Replica, options: SyncOptions): Promise<SyncEngine> {
  const engineOptions: EngineOptions = {
    batchSize: options.batchSize,
    pollInterval: options.pollInterval,
    ...(options.socket === false ? {} : { socket: await socketFactory() }),
  }
  const engine = new SyncEngine(replica, options.transport ?? httpTransport(options.url, options.token), engineOptions)
  engine.start()
  return engine
}

export { SyncEngine, type SyncPhase, type SyncStatus } from './engine.js'
export { httpTransport, SyncHttpError, type Transport } from './transport.js'
