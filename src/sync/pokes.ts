import { backoff, unref } from '../core/backoff.js'
import { PROTOCOL_VERSION, type Poke } from '../protocol/messages.js'

/** The minimal WebSocket the engine needs (the browser's, or the `ws` package's). */
export interface SocketLike {
  onopen: ((e: unknown) => void) | null
  onmessage: ((e: { data: unknown }) => void) | null
  onclose: ((e: unknown) => void) | null
  onerror: ((e: unknown) => void) | null
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

  constructor(
    private readonly open: SocketFactory,
    private readonly url: () => Promise<string>,
    private readonly handlers: { onPoke: (p: Poke) => void; onOpen: () => void },
    private readonly maxBackoff: number,
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
        this.handlers.onOpen()
      }
      ws.onerror = () => undefined
      ws.onclose = () => this.reopenLater()
    })()
  }

  stop(): void {
    this.stopped = true
    this.socket?.close()
  }

  private reopenLater(): void {
    if (this.stopped) return
    unref(setTimeout(() => this.start(), backoff(this.closes++, { initial: 1000, max: this.maxBackoff, jitter: 0.5 })))
  }
}
