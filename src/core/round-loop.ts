import { backoff, unref, type BackoffOptions } from './backoff.js'
import { ClosedError } from './errors.js'

export interface RoundLoopOptions {
  /** After a round that succeeded, the next one this many ms later (0 or absent: only when asked). */
  interval?: number
  /** After a failed round, the next one after a backoff (absent: only when asked; the host retries). */
  retry?: BackoffOptions
}

/**
 * One scheduler for every kind of sync: runs rounds one at a time, when
 * asked (`run`, `kick`), every `interval` after a success, and after a
 * backoff from failures. Server sync, file sync and the service worker each
 * hand it their round.
 */
export class RoundLoop<R> {
  private running = false
  /** Callers of `run` waiting for the round after the one in flight. */
  private waiting: { promise: Promise<R>; resolve: (r: R) => void; reject: (e: unknown) => void } | undefined
  private again = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private stopped = false
  private current: Promise<unknown> | undefined
  /** Failed rounds since the last success. */
  failures = 0
  /** Until when kicks wait: the pause the other side asked for after the last failed round. */
  private notBefore = 0

  constructor(
    private readonly round: () => Promise<R>,
    private readonly options: RoundLoopOptions = {},
  ) {}

  /**
   * Runs a round now, or right after the one in flight: resolves or rejects
   * with the first round that starts after this call, so it sees everything
   * done before the call.
   */
  run(): Promise<R> {
    if (this.stopped) return Promise.reject(new ClosedError('sync'))
    if (!this.running) return this.begin()
    if (!this.waiting) {
      let resolve!: (r: R) => void
      let reject!: (e: unknown) => void
      const promise = new Promise<R>((res, rej) => ((resolve = res), (reject = rej)))
      this.waiting = { promise, resolve, reject }
    }
    return this.waiting.promise
  }

  /** Whether a round is in flight. */
  get busy(): boolean {
    return this.running
  }

  /** Resolves when the round in flight, if any, has ended (it starts none). */
  async idle(): Promise<void> {
    await this.current?.catch(() => undefined)
  }

  /** Asks for a round without waiting for it; a round in flight is followed by one more, unless it fails (then the backoff decides). */
  kick(): void {
    if (this.stopped) return
    // the other side asked for a pause (a 503's Retry-After): a kick waits it out; `run` (asked for by the app) does not
    const wait = this.notBefore - Date.now()
    if (wait > 0 && !this.running) return this.schedule(wait)
    if (this.running) this.again = true
    else void this.begin().catch(() => undefined)
  }

  /** The next round in `ms` (replacing a scheduled one). */
  schedule(ms: number): void {
    clearTimeout(this.timer)
    if (!this.stopped) this.timer = unref(setTimeout(() => this.kick(), ms))
  }

  /** Forget the failures (the network is back): the next failure backs off from the start. */
  reset(): void {
    this.failures = 0
  }

  /** No more rounds; waits for the one in flight. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    this.waiting?.reject(new ClosedError('sync'))
    this.waiting = undefined
    await this.current?.catch(() => undefined)
  }

  private begin(): Promise<R> {
    this.running = true
    this.again = false
    clearTimeout(this.timer)
    const round = this.round()
    this.current = round
    // settled before any caller's continuation runs: the next round starts with no gap for another to slip in
    round.then(
      () => this.settled(true),
      (e: unknown) => this.settled(false, (e as { retryAfterMs?: unknown } | null)?.retryAfterMs),
    )
    return round
  }

  /** After a round that ended; a failed one may say how long the other side asked to wait (a 503's Retry-After). */
  private settled(ok: boolean, retryAfterMs?: unknown): void {
    this.running = false
    if (ok) this.failures = 0
    else this.failures++
    this.notBefore = 0
    if (this.stopped) return
    const waiting = this.waiting
    if (waiting) {
      this.waiting = undefined
      this.begin().then(waiting.resolve, waiting.reject)
      return
    }
    if (ok && this.again) return void this.begin().catch(() => undefined)
    this.again = false
    const { interval, retry } = this.options
    if (ok && interval) this.schedule(interval)
    else if (!ok && retry) {
      // asked to wait: at least that long, spread so that the clients told the same do not all come back at once
      const asked = typeof retryAfterMs === 'number' && retryAfterMs > 0 ? retryAfterMs * (1 + Math.random() * retry.jitter) : 0
      if (asked) this.notBefore = Date.now() + asked
      this.schedule(Math.max(asked, backoff(this.failures - 1, retry)))
    }
  }
}
