import { unref } from '../core/backoff.js'
import type { Committed, ServerStore } from './store.js'

/** Documents one catch-up reads to poke with; beyond, sockets are told the revision and pull. */
export const CATCH_UP_DOCS = 2000

/** What the feed tells: a range of commits whose writes are known, or only a revision. */
export interface FeedSink {
  poke(c: Committed): void
  pokeAll(revision: number): void
}

/**
 * The commits this server tells its sockets of, in revision order with no
 * gap: its own as each batch is durable, and those of other servers on the
 * same database, heard on the store's commit channel and read once per
 * server (not once per client). When the channel was lost, or a commit of
 * its own follows one it has not heard of, it reads from the last revision
 * it told: no commit goes untold.
 */
export class CommitFeed {
  private told: number
  private busy: Promise<void> | undefined
  private again = false
  private check: ReturnType<typeof setInterval> | undefined
  /** Revisions heard from the channel, and catch-ups read, since the server started. */
  heard = 0
  catchUps = 0

  constructor(
    private readonly store: ServerStore,
    private readonly sink: FeedSink,
    revision: number,
  ) {
    this.told = revision
  }

  /** The last revision told. */
  get revision(): number {
    return this.told
  }

  /**
   * Listens on the store's commit channel, if it has one; and every
   * `checkEvery` ms reads the revision, in case a notification was lost.
   */
  async start(checkEvery = 30_000): Promise<void> {
    const channel = this.store.commits
    if (!channel) return
    await channel.listen(revision => {
      if (revision !== undefined) this.heard++
      if (revision === undefined || revision > this.told) this.catchUp()
    })
    if (checkEvery > 0) this.check = unref(setInterval(() => this.catchUp(), checkEvery))
  }

  /** A commit of this server's own, durable now. */
  committed(c: Committed): void {
    this.store.commits?.announce(c.last)
    if (c.last <= this.told) return
    // the common case: it follows what was told, and is told at once, before anything else awaits
    if (!this.busy && c.first === this.told + 1) {
      this.told = c.last
      return this.sink.poke(c)
    }
    this.catchUp()
  }

  /** Waits for the catch-up in flight. */
  async idle(): Promise<void> {
    while (this.busy) await this.busy
  }

  stop(): void {
    clearInterval(this.check)
  }

  /** Reads what was committed after the last revision told; one read at a time, and one more if asked meanwhile. */
  private catchUp(): void {
    if (this.busy) {
      this.again = true
      return
    }
    this.busy = (async () => {
      do {
        this.again = false
        this.catchUps++
        try {
          const { revision, committed } = await this.store.committedSince(this.told, CATCH_UP_DOCS)
          if (revision <= this.told) continue
          if (committed) this.sink.poke(committed)
          else this.sink.pokeAll(revision)
          this.told = revision
        } catch {
          // the store is unreachable: the next notification or check reads again from the same revision
        }
      } while (this.again)
    })().finally(() => (this.busy = undefined))
  }
}
