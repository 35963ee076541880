import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { PROTOCOL_VERSION, type Poke } from '../protocol/messages.js'
import type { Identity } from './auth.js'

/** Pokes carry a push's changes when they are at most this big. */
export const INLINE_POKE_BYTES = 16 * 1024

/** Close codes a client sees: it reconnects (with a fresh token) and pulls what it missed. */
const TOKEN_EXPIRED = 4001

/**
 * The poke sockets: one WebSocket per client (the sync leader), opened with
 * a token and closed when the token expires, and closed when the client
 * reads too slowly for its unsent data to stay under `bufferLimit` bytes, so
 * a stalled consumer costs the server a bounded amount of memory. A client
 * whose socket closes reconnects and pulls, so it loses nothing.
 */
export class PokeSockets {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 })
  private readonly open = new Map<WebSocket, ReturnType<typeof setTimeout> | undefined>()
  /** Sockets closed because they read too slowly, since the server started. */
  dropped = 0

  constructor(
    private readonly authenticate: (token: string | undefined) => Promise<Identity>,
    private readonly revision: () => Promise<number>,
    private readonly bufferLimit: number,
  ) {}

  get size(): number {
    return this.open.size
  }

  /** Bytes the open sockets have not sent yet: bounded by the buffer limit per socket. */
  get buffered(): number {
    let n = 0
    for (const ws of this.open.keys()) n += ws.bufferedAmount
    return n
  }

  /** Takes an HTTP upgrade to `/v1/socket?token=…`. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== '/v1/socket') return void socket.destroy()
    this.authenticate(url.searchParams.get('token') ?? undefined).then(
      identity =>
        this.wss.handleUpgrade(req, socket, head, ws => {
          const left = identity.expires === undefined ? undefined : identity.expires - Date.now()
          if (left !== undefined && left <= 0) return ws.close(TOKEN_EXPIRED, 'token expired')
          // a timer per socket, for as long as the token lasts (at most a timer's range)
          const expiry = left === undefined ? undefined : setTimeout(() => ws.close(TOKEN_EXPIRED, 'token expired'), Math.min(left, 2 ** 31 - 1))
          this.open.set(ws, expiry)
          const forget = () => {
            clearTimeout(this.open.get(ws))
            this.open.delete(ws)
          }
          ws.on('close', forget)
          ws.on('error', forget)
          // messages from clients are not part of the protocol yet: ignore them
          void this.revision().then(revision => this.send(ws, JSON.stringify({ type: 'poke', v: PROTOCOL_VERSION, revision } satisfies Poke)))
        }),
      () => {
        socket.write('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n')
        socket.destroy()
      },
    )
  }

  /** Tells every socket of a commit at `revision` (with its changes, when small). */
  poke(revision: number, inline?: Poke['inline']): void {
    const message = JSON.stringify({ type: 'poke', v: PROTOCOL_VERSION, revision, ...(inline ? { inline } : {}) } satisfies Poke)
    for (const ws of this.open.keys()) this.send(ws, message)
  }

  private send(ws: WebSocket, message: string): void {
    if (ws.readyState !== ws.OPEN) return
    if (ws.bufferedAmount + message.length > this.bufferLimit) {
      this.dropped++
      // terminate, not close: a closing handshake would queue behind the unread data
      ws.terminate()
      return
    }
    ws.send(message)
  }

  close(): void {
    for (const ws of this.open.keys()) ws.close(1001, 'server shutting down')
    this.wss.close()
  }
}
