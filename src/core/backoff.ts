/** How retries space out: from `initial` ms doubling to `max`, each spread by ±`jitter` (a fraction) so contenders do not retry in step. */
export interface BackoffOptions {
  initial: number
  max: number
  jitter: number
}

/** The wait before retry number `attempt` (0: the first retry). */
export function backoff(attempt: number, { initial, max, jitter }: BackoffOptions): number {
  const base = Math.min(max, initial * 2 ** attempt)
  return base * (1 - jitter + Math.random() * 2 * jitter)
}

/** Resolves after `ms` (the timer keeps a Node process alive: the caller is waiting). */
export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** Node's timers and channels would keep a process alive for background work; browsers have no such notion. */
export function unref<T>(timer: T): T {
  ;(timer as { unref?: () => void }).unref?.()
  return timer
}
