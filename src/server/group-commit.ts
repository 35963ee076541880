import type { PushRequest, PushResponse } from '../protocol/messages.js'
import { commitBatch, type PushContext, type PushJob } from './push.js'
import type { Committed, ServerStore } from './store.js'

interface Waiting {
  job: PushJob
  resolve: (response: PushResponse) => void
  reject: (error: unknown) => void
}

/**
 * Group commit: pushes that arrive while a commit is in flight wait for it
 * and then go together, in arrival order, in one durable transaction. A
 * lone push commits at once (nothing waits to gather more), and under load
 * a whole burst costs one fsync. Each push is answered only once its batch
 * is durable; `onCommitted` hears each batch first, so pokes go out in
 * commit order.
 */
export class GroupCommit {
  private readonly queue: Waiting[] = []
  private running: Promise<void> | undefined
  /** Batches committed, and the pushes they held, since the server started. */
  batches = 0
  pushes = 0

  constructor(
    private readonly store: ServerStore,
    private readonly onCommitted: (c: Committed) => void,
    /** The most mutations one batch takes (a push bigger than that goes alone). */
    private readonly maxMutations = 2000,
  ) {}

  push(req: PushRequest, ctx: PushContext): Promise<PushResponse> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { req, ctx }, resolve, reject })
      // started after the requests already read in this turn of the event loop are queued too: a synchronous store (SQLite) never yields while it commits
      this.running ??= new Promise<void>(r => setImmediate(r)).then(() => this.drain())
    })
  }

  /** Resolves when every push taken so far is answered. */
  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) await this.commit(this.take())
    } finally {
      this.running = undefined
    }
  }

  private take(): Waiting[] {
    let mutations = 0
    let n = 0
    while (n < this.queue.length && (n === 0 || mutations + this.queue[n]!.job.req.mutations.length <= this.maxMutations)) {
      mutations += this.queue[n]!.job.req.mutations.length
      n++
    }
    return this.queue.splice(0, n)
  }

  private async commit(batch: Waiting[]): Promise<void> {
    let done: Awaited<ReturnType<typeof commitBatch>>
    try {
      done = await commitBatch(
        this.store,
        batch.map(w => w.job),
      )
    } catch (e) {
      if (batch.length === 1) return batch[0]!.reject(e)
      // the transaction failed for all: each push alone, so whichever broke it fails alone
      for (const w of batch) await this.commit([w])
      return
    }
    this.batches++
    this.pushes += batch.length
    // the batch is durable whatever a listener does: its pushes are answered
    try {
      if (done.committed) this.onCommitted(done.committed)
    } catch {
      // a poke that failed to go out: clients find the commit by their next pull
    }
    for (const [i, outcome] of done.outcomes.entries()) {
      if ('error' in outcome) batch[i]!.reject(outcome.error)
      else batch[i]!.resolve(outcome.response)
    }
  }
}
