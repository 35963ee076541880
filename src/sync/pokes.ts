import { backoff, unref } from '../core/backoff.js'
import { PROTOCOL_VERSION, type Poke } from '../protocol/messages.js'
import { RENEW_BEFORE_MS, type TokenSource } from './tokens.js'

/** The minimal WebSocket the engine needs (the browser's, or the `ws` package's). */
export interface SocketLike {
  onopen: ((e: unknown) => void) | null
  onmessage: ((e: { data: unknown }) => void) | null
  onclose: ((e: unknown) => void) | null
  onerror: ((e: unknown) => void) | null
  send(data: string): void
  close(): void
}
export type SocketFactory = (url: string) => SocketLike

/**
 * The poke socket: told of every server commit that may interest this
 * client, reopened after it closes (backing off, with jitter), until stopped.
 */
export class PokeSocket {
  private socket: SocketLike | undefined
  private stopped = false
  private closes = 0
  private renewal: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly open: SocketFactory,
    private readonly url: () => Promise<string>,
    private readonly handlers: { onPoke: (p: Poke) => void; onOpen: () => void },
    private readonly maxBackoff: number,
    /** Where the socket's token comes from: renewed over the socket before it expires, so the server keeps it open. */
    private readonly tokens?: TokenSource,
  ) {}

  start(): void {
    if (this.stopped) return
    void (async () => {
      let ws: SocketLike
      try {
        const url = await this.url()
        // stopped while the token was fetched: open nothing
        if (this.stopped) return
        ws = this.open(url)
      } catch {
        return this.reopenLater()
      }
      this.socket = ws
      ws.onmessage = e => {
        let poke: Poke
        try {
          poke = JSON.parse(String(e.data)) as Poke
        } catch {
          return // not a message of ours
        }
        if (poke?.type === 'poke' && poke.v === PROTOCOL_VERSION) this.handlers.onPoke(poke)
      }
      ws.onopen = () => {
        this.closes = 0
        this.renewLater(ws)
        this.handlers.onOpen()
      }
      ws.onerror = () => undefined
      ws.onclose = () => {
        clearTimeout(this.renewal)
        this.reopenLater()
      }
    })()
  }

  /** Closes the socket and opens a new one at once, with the token the app gives now. */
  restart(): void {
    const ws = this.socket
    this.socket = undefined
    this.closes = 0
    clearTimeout(this.renewal)
    if (!ws) return
    ws.onclose = null
    ws.close()
    this.start()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.renewal)
    this.socket?.close()
  }

  /** Sends the next token a little before the one in hand expires (a socket that cannot renew is closed by the server, and reopens). */
  private renewLater(ws: SocketLike): void {
    const expires = this.tokens?.expires
    if (expires === undefined) return
    const wait = Math.max(1000, expires - Date.now() - RENEW_BEFORE_MS / 2)
    this.renewal = unref(
      setTimeout(() => {
        void this.tokens!.get().then(
          token => {
            if (this.socket !== ws || this.stopped) return
            ws.send(JSON.stringify({ type: 'auth', v: PROTOCOL_VERSION, token }))
            this.renewLater(ws)
          },
          () => undefined,
        )
      }, Math.min(wait, 2 ** 31 - 1)),
    )
  }

  private reopenLater(): void {
    if (this.stopped) return
    unref(setTimeout(() => this.start(), backoff(this.closes++, { initial: 1000, max: this.maxBackoff, jitter: 0.5 })))
  }
}
