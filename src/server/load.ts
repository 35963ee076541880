import { monitorEventLoopDelay } from 'node:perf_hooks'
import { unref } from '../core/backoff.js'
import { InvalidOptionsError } from '../core/errors.js'

/** What one server takes on before it asks clients to come back later (503 with Retry-After). */
export interface LoadLimits {
  /** Open poke sockets (default 50,000): one more is refused at the upgrade. */
  sockets?: number
  /** Push and pull requests in flight at once (default 2,000). */
  requests?: number
  /** The event loop's p99 delay over the last second, in ms (default 1,000): beyond it, new requests and sockets wait. */
  eventLoopDelay?: number
}

const DEFAULTS: Required<LoadLimits> = { sockets: 50_000, requests: 2_000, eventLoopDelay: 1_000 }

/**
 * Sheds load before it piles up: a server past a limit answers new work
 * with 503 and a Retry-After of a few seconds (spread, so the clients told
 * to wait do not all return in step), and keeps serving what it holds.
 * Health checks are never shed.
 */
export class LoadShedder {
  private readonly limits: Required<LoadLimits>
  private readonly delay = monitorEventLoopDelay({ resolution: 20 })
  private readonly timer: ReturnType<typeof setInterval>
  /** The event loop's p99 delay over the last second, in ms. */
  lag = 0
  inFlight = 0
  /** Requests and sockets turned away since the server started. */
  shed = 0

  constructor(
    limits: LoadLimits = {},
    private readonly sockets: () => number,
  ) {
    for (const [k, v] of Object.entries(limits)) {
      if (!(k in DEFAULTS)) throw new InvalidOptionsError(`limits.${k}`, `is not a limit (${Object.keys(DEFAULTS).join(', ')})`)
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new InvalidOptionsError(`limits.${k}`, `must be a whole number ≥ 0, got ${String(v)}`)
    }
    this.limits = { ...DEFAULTS, ...Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) }
    this.delay.enable()
    this.timer = unref(
      setInterval(() => {
        this.lag = this.delay.percentile(99) / 1e6
        this.delay.reset()
      }, 1000),
    )
  }

  /** Why new work of `kind` must wait now, if it must. */
  refuse(kind: 'request' | 'socket'): string | undefined {
    const why =
      this.lag > this.limits.eventLoopDelay
        ? `the server is busy (event loop ${Math.round(this.lag)} ms behind)`
        : kind === 'socket' && this.sockets() >= this.limits.sockets
          ? `the server holds ${this.limits.sockets} sockets, its limit`
          : kind === 'request' && this.inFlight >= this.limits.requests
            ? `the server has ${this.limits.requests} requests in flight, its limit`
            : undefined
    if (why) this.shed++
    return why
  }

  /** Seconds to wait: 1 to 5, spread. */
  retryAfter(): number {
    return 1 + Math.floor(Math.random() * 5)
  }

  stop(): void {
    clearInterval(this.timer)
    this.delay.disable()
  }
}
