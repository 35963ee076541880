/**
 * Keeps a Node process running while something holds it (a live query, a
 * sync engine that retries): Tidepool's own timers are unref'd, so without a
 * hold a script whose only work is a subscription would exit at once. In a
 * browser there is nothing to keep alive, and nothing is held.
 */
export class KeepAlive {
  private holds = 0
  private timer: ReturnType<typeof setInterval> | undefined

  /** Holds the process until the returned function is called (once). */
  hold(): () => void {
    if (this.holds++ === 0 && typeof process !== 'undefined' && process.versions?.node) this.timer = setInterval(() => undefined, 2 ** 30)
    let released = false
    return () => {
      if (released) return
      released = true
      if (--this.holds === 0) {
        clearInterval(this.timer)
        this.timer = undefined
      }
    }
  }
}
