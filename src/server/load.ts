import { performance, type EventLoopUtilization } from 'node:perf_hooks'
import { unref } from '../core/backoff.js'
import { InvalidOptionsError } from '../core/errors.js'

/** What one server takes on before it asks clients to come back later (503 with Retry-After). */
export interface LoadLimits {
  /** Open poke sockets (default 50,000): one more is refused at the upgrade. */
  sockets?: number
  /** Push and pull requests in flight at once (default 2,000). */
  requests?: number
  /**
   * The share of the last five seconds the event loop was busy, in percent:
   * beyond it, new requests and sockets wait. Default 100 (off): a server
   * that is busy but keeps up (a large push takes seconds of a loop) must
   * not turn clients away; the requests in flight measure a backlog.
   */
  busyPercent?: number
}

const DEFAULTS: Required<LoadLimits> = { sockets: 50_000, requests: 2_000, busyPercent: 100 }
/** Seconds of event-loop history the busy share is taken over. */
const WINDOW = 5

/**
 * Sheds load before it piles up: a server past a limit answers new work
 * with 503 and a Retry-After of a few seconds (spread, so the clients told
 * to wait do not all return in step), and keeps serving what it holds.
 * Health checks are never shed.
 */
export class LoadShedder {
  private readonly limits: Required<LoadLimits>
  private readonly samples: EventLoopUtilization[] = []
  private readonly timer: ReturnType<typeof setInterval>
  /** The share of the last five seconds the event loop was busy, in percent. */
  busy = 0
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
    this.samples.push(performance.eventLoopUtilization())
    this.timer = unref(
      setInterval(() => {
        const now = performance.eventLoopUtilization()
        this.samples.push(now)
        if (this.samples.length > WINDOW + 1) this.samples.shift()
        this.busy = Math.round(performance.eventLoopUtilization(now, this.samples[0]).utilization * 100)
      }, 1000),
    )
  }

  /** Why new work of `kind` must wait now, if it must. */
  refuse(kind: 'request' | 'socket'): string | undefined {
    const why =
      this.samples.length > WINDOW && this.busy > this.limits.busyPercent
        ? `the server is busy (its event loop was busy ${this.busy}% of the last ${WINDOW} s)`
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
  }
}
