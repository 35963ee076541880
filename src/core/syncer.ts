/** `signed-out`: the replica's user signed out, and nothing syncs until another signs in (or `syncNow()`). */
export type SyncPhase = 'offline' | 'connecting' | 'pushing' | 'pulling' | 'in-sync' | 'error' | 'signed-out'

/** Where a replica's sync stands, as `db.sync.status` (or `db.files.status`) gives it and `subscribe` delivers it. */
export interface SyncStatus {
  phase: SyncPhase
  /** Mutations committed locally that are not yet confirmed (by the server) or uploaded (to every linked file store). */
  pending: number
  /** Why the last attempt failed (cleared by a successful sync). */
  lastError?: string
  /** When the replica last finished a round (ms since epoch). */
  lastSyncAt?: number
  /** The last server revision pulled (0 without a server). */
  revision: number
  /** During a first sync (or a resync) that takes several pages: documents received (`done`) of the `total` the server named. */
  progress?: { done: number; total: number }
}

/** Whether a status says the last round reached the other side. */
export function isConnected(s: SyncStatus): boolean {
  return s.phase !== 'offline' && s.phase !== 'error' && s.phase !== 'connecting' && s.phase !== 'signed-out'
}

/**
 * What every way of syncing a replica offers the database: with a server
 * from this tab (the engine) or through another tab (the leader's), or
 * through file stores. A database holds one.
 */
export interface Syncer {
  /** Phase, pending count, last error, last sync and revision. */
  readonly status: SyncStatus
  /** Whether the replica holds everything the other side announced (a query's `fromCache` is its negation). */
  readonly upToDate: boolean
  /** Calls `listener` with the status now and after every change. Returns a function that stops it. */
  subscribe(listener: (s: SyncStatus) => void): () => void
  /** Runs a round now (or right after the one in flight). */
  syncNow(): Promise<unknown>
  /** Ends syncing (`db.close()` calls it): no more rounds; resolves once the round in flight, if any, has ended. */
  stop(): Promise<void>
}
