import type { SyncStatus, Syncer } from '../core/syncer.js'
import type { ReplicaReport } from '../replica/inspect.js'
import type { LiveSubscription } from '../replica/live.js'
import type { StatsSnapshot } from '../replica/stats.js'

/** What `db.inspect()` reports: the replica's contents, and what the open database is doing with them. */
export interface DatabaseReport extends ReplicaReport {
  name: string
  /** When the report was read (ms since epoch). */
  at: number
  /** The sync status now; absent for a database that does not sync. */
  status?: SyncStatus
  /** The latest status changes since the database opened, oldest first (at most 100). */
  statusHistory: Array<SyncStatus & { at: number }>
  /** Live queries and watched documents open now. */
  subscriptions: LiveSubscription[]
  stats: StatsSnapshot
}

const KEPT = 100

/** The last statuses a syncer went through, kept from the start so that a panel opened later still shows how sync got where it is. */
export class StatusHistory {
  private readonly entries: Array<SyncStatus & { at: number }> = []

  constructor(syncer: Syncer | undefined) {
    syncer?.subscribe(s => {
      const last = this.entries.at(-1)
      if (last && last.phase === s.phase && last.pending === s.pending && last.lastError === s.lastError && last.revision === s.revision) return
      this.entries.push({ ...s, at: Date.now() })
      if (this.entries.length > KEPT) this.entries.shift()
    })
  }

  list(): Array<SyncStatus & { at: number }> {
    return this.entries.slice()
  }
}
