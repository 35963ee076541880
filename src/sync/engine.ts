import type { MutationResult } from '../core/changes.js'
import type { Mutation } from '../core/mutation.js'
import type { Replica, Rejection } from '../replica/replica.js'
import { MAX_MESSAGE_BYTES, MAX_PUSH_MUTATIONS, PROTOCOL_VERSION, type Poke, type PullResponse } from '../protocol/messages.js'
import { ClosedError, HttpError } from '../core/errors.js'
import type { Transport } from './transport.js'
import { applyPull, renumber } from './apply-pull.js'
import type { Sync } from './index.js'

/** A push stays well under the server's message limit. */
const BATCH_BYTES = MAX_MESSAGE_BYTES / 2

/** The next mutations to push: at most `count`, and at most BATCH_BYTES of JSON (but always at least one). */
function takeBatch(pending: Mutation[], count: number): Mutation[] {
  const out: Mutation[] = []
  let bytes = 0
  for (const m of pending) {
    if (out.length >= count) break
    const size = JSON.stringify(m).length
    if (out.length > 0 && bytes + size > BATCH_BYTES) break
    if (size > MAX_MESSAGE_BYTES - 1024) throw new HttpError(413, 'too-large', `mutation ${m.seq} is ${size} bytes, more than a server accepts; split the transaction`)
    out.push(m)
    bytes += size
  }
  return out
}

export type SyncPhase = 'offline' | 'connecting' | 'pushing' | 'pulling' | 'in-sync' | 'error'

export interface SyncStatus {
  phase: SyncPhase
  /** Mutations committed locally that the server has not confirmed. */
  pending: number
  /** Why the last attempt failed (cleared by a successful sync). */
  lastError?: string
  /** When the replica last finished a push and pull (ms since epoch). */
  lastSyncAt?: number
  /** The last server revision pulled. */
  revision: number
}

/** Whether a status says the last round reached the server. */
export function isConnected(s: SyncStatus): boolean {
  return s.phase !== 'offline' && s.phase !== 'error' && s.phase !== 'connecting'
}

/** The minimal WebSocket the engine needs (the browser's, or the `ws` package's). */
export interface SocketLike {
  onopen: ((e: unknown) => void) | null
  onmessage: ((e: { data: unknown }) => void) | null
  onclose: ((e: unknown) => void) | null
  onerror: ((e: unknown) => void) | null
  close(): void
}
export type SocketFactory = (url: string) => SocketLike

export interface EngineOptions {
  /** Mutations per push request (default 500). */
  batchSize?: number
  /** A sync round this often even without pokes, in ms: the watchdog (default 30,000). */
  pollInterval?: number
  /** Opens the poke socket; without it the engine relies on polling. */
  socket?: SocketFactory
  /** Backoff after failures: from `minBackoff` doubling to `maxBackoff` ms, with jitter (defaults 500 and 30,000). */
  minBackoff?: number
  maxBackoff?: number
  /** Pushes are someone else's job (a service worker): called when the outbox has mutations, instead of pushing them. */
  pushVia?: () => void
}

/**
 * Pushes the outbox and pulls server changes: after each local commit, on
 * each poke, and every `pollInterval`, so mutations never sit unpushed while
 * the server answers. Failures back off with jitter and show in `status`.
 */
export class SyncEngine implements Sync {
  private current: SyncStatus = { phase: 'connecting', pending: 0, revision: 0 }
  private readonly listeners = new Set<(s: SyncStatus) => void>()
  private readonly rejectedListeners = new Set<(r: Rejection) => void>()
  private readonly settledListeners = new Set<(r: MutationResult) => void>()
  private readonly waiters = new Map<string, { resolve: (r: MutationResult) => void; reject: (e: Error) => void }>()
  private running: Promise<void> | undefined
  private again = false
  private stopped = false
  private failures = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private socket: SocketLike | undefined
  private announced = 0
  /** Pokes that carried their changes, waiting for the next round. */
  private inline: Poke[] = []
  private stopCommits: (() => void) | undefined
  private stopOnline: (() => void) | undefined

  constructor(
    private readonly replica: Replica,
    private readonly transport: Transport,
    private readonly options: EngineOptions = {},
  ) {}

  get status(): SyncStatus {
    return this.current
  }

  readonly leader = true

  /** Whether the last round reached the server. */
  get connected(): boolean {
    return isConnected(this.current)
  }

  /** True while the replica has pulled everything the server announced. */
  get upToDate(): boolean {
    return this.current.phase === 'in-sync' && this.current.revision >= this.announced
  }

  subscribe(listener: (s: SyncStatus) => void): () => void {
    this.listeners.add(listener)
    listener(this.current)
    return () => this.listeners.delete(listener)
  }

  onRejected(listener: (r: Rejection) => void): () => void {
    this.rejectedListeners.add(listener)
    return () => this.rejectedListeners.delete(listener)
  }

  /** Calls `listener` with the server's result for every mutation of this replica that a round settles. */
  onSettled(listener: (r: MutationResult) => void): () => void {
    this.settledListeners.add(listener)
    return () => this.settledListeners.delete(listener)
  }

  start(): void {
    this.stopCommits = this.replica.onChange(changes => {
      // with pushes delegated, a change without pending writes may be another pusher's acknowledgements
      if (changes === 'reset' || (!this.options.pushVia && !changes.some(c => c.pending))) return
      void this.replica.pendingCount().then(
        pending => this.set({ pending }),
        () => undefined,
      )
      this.kick()
    })
    // the browser says the network is back: retry now, not when the backoff ends
    const online = () => {
      this.failures = 0
      this.kick()
    }
    globalThis.addEventListener?.('online', online)
    this.stopOnline = () => globalThis.removeEventListener?.('online', online)
    this.openSocket()
    this.kick()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    this.stopCommits?.()
    this.stopOnline?.()
    this.socket?.close()
    for (const w of this.waiters.values()) w.reject(new ClosedError('sync'))
    await this.running?.catch(() => undefined)
  }

  /** Runs a push-and-pull round now (or right after the one in flight). */
  syncNow(): Promise<void> {
    this.kick()
    return this.running ?? Promise.resolve()
  }

  /**
   * One push-and-pull round that rejects when it fails, without retries or
   * timers: for hosts that schedule the retries themselves (a service
   * worker's Background Sync). Never runs alongside `start()`.
   */
  async roundOnce(): Promise<void> {
    this.running = this.round()
    try {
      await this.running
    } finally {
      this.running = undefined
    }
  }

  /** Resolves with the server's result for a mutation; rejects when the connection is lost first. */
  waitFor(mutationId: string): Promise<MutationResult> {
    return new Promise((resolve, reject) => this.waiters.set(mutationId, { resolve, reject }))
  }

  private kick(): void {
    if (this.stopped) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = this.loop().finally(() => (this.running = undefined))
  }

  private async loop(): Promise<void> {
    do {
      this.again = false
      try {
        await this.round()
        this.failures = 0
        this.schedule(this.options.pollInterval ?? 30_000)
      } catch (e) {
        this.failures++
        const offline = e instanceof HttpError && e.status === 0
        this.set({ phase: offline ? 'offline' : 'error', lastError: (e as Error).message })
        for (const w of this.waiters.values()) w.reject(e as Error)
        this.waiters.clear()
        const min = this.options.minBackoff ?? 500
        const delay = Math.min(this.options.maxBackoff ?? 30_000, min * 2 ** (this.failures - 1))
        this.schedule(delay * (0.5 + Math.random()))
        return
      }
    } while (this.again && !this.stopped)
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer)
    if (this.stopped) return
    this.timer = setTimeout(() => this.kick(), ms)
    ;(this.timer as { unref?: () => void }).unref?.()
  }

  /** Pushes everything pending, then pulls. */
  private async round(): Promise<void> {
    // another tab or worker may have taken a new client id
    if (this.replica.shared) await this.replica.refreshClientId()
    // the outbox as the round starts: commits made meanwhile kick another round
    let outbox = await this.replica.outbox()
    let from = 0
    let pushed = false
    if (this.options.pushVia) {
      if (outbox.length) this.options.pushVia()
      this.set({ pending: outbox.length })
    }
    while (!this.options.pushVia) {
      const batch = takeBatch(outbox.slice(from), Math.min(this.options.batchSize ?? 500, MAX_PUSH_MUTATIONS))
      this.set({ phase: batch.length ? 'pushing' : this.current.phase, pending: outbox.length })
      if (batch.length === 0) break
      const res = await this.transport.push({
        type: 'push',
        v: PROTOCOL_VERSION,
        clientId: this.replica.clientId,
        mutations: batch.map(m => ({ seq: m.seq, id: m.id, ops: m.ops, preconditions: m.preconditions, schemaVersion: m.schemaVersion })),
      })
      this.announced = Math.max(this.announced, res.revision)
      if (res.stopped?.reason === 'client-diverged') {
        await renumber(this.replica)
        outbox = await this.replica.outbox()
        from = 0
        continue
      }
      if (res.stopped) throw new HttpError(409, res.stopped.reason, res.stopped.message)
      from += batch.length
      pushed = true
    }
    // pokes that carry their changes and continue exactly from what this replica has: no pull needed
    if (!pushed && (await this.applyInline())) return
    this.set({ phase: 'pulling' })
    let pulled: PullResponse
    const acked: Mutation[] = []
    const rejected: Rejection[] = []
    const results: MutationResult[] = []
    let stale: boolean
    do {
      const since = (await this.replica.head()).pulledRevision
      pulled = await this.transport.pull({ type: 'pull', v: PROTOCOL_VERSION, clientId: this.replica.clientId, since })
      const applied = await applyPull(this.replica, pulled, since)
      stale = applied.stale
      acked.push(...applied.acked)
      rejected.push(...applied.rejected)
      results.push(...pulled.results)
      if (!stale) this.set({ revision: pulled.revision })
    } while ((pulled.more || stale) && !this.stopped)
    this.announced = Math.max(this.announced, pulled.revision)
    this.set({ phase: 'in-sync', pending: await this.replica.pendingCount(), revision: pulled.revision, lastSyncAt: Date.now(), lastError: undefined })
    // the status is current before anyone waiting on these mutations resumes
    for (const m of acked) this.settle(m.id, results.find(r => r.id === m.id)!)
    for (const r of rejected) {
      this.settle(r.id, results.find(x => x.id === r.id)!)
      for (const l of this.rejectedListeners) l(r)
    }
  }

  /** Applies queued inline pokes that chain from the pulled revision up to the latest announced one; false when a pull is needed. */
  private async applyInline(): Promise<boolean> {
    const pokes = this.inline.sort((a, b) => a.revision - b.revision)
    this.inline = []
    let revision = (await this.replica.head()).pulledRevision
    const chain: Poke[] = []
    for (const p of pokes) {
      if (p.revision <= revision) continue
      if (p.inline!.base !== revision) return false
      chain.push(p)
      revision = p.revision
    }
    if (chain.length === 0 || revision < this.announced) return false
    for (const p of chain) {
      if ((await applyPull(this.replica, { revision: p.revision, changes: p.inline!.changes, results: [] }, p.inline!.base)).stale) return false
    }
    this.set({ phase: 'in-sync', revision, lastSyncAt: Date.now(), lastError: undefined })
    return true
  }

  private settle(id: string, result: MutationResult): void {
    this.waiters.get(id)?.resolve(result)
    this.waiters.delete(id)
    for (const l of this.settledListeners) l(result)
  }

  private set(change: Partial<SyncStatus>): void {
    const next = { ...this.current, ...change }
    if (JSON.stringify(next) === JSON.stringify(this.current)) return
    this.current = next
    for (const l of this.listeners) l(next)
  }

  private openSocket(): void {
    const open = this.options.socket
    if (!open || this.stopped) return
    void (async () => {
      let ws: SocketLike
      try {
        ws = open(await this.transport.socketUrl())
      } catch {
        return this.reopenLater()
      }
      this.socket = ws
      ws.onmessage = e => {
        try {
          const poke = JSON.parse(String(e.data)) as Poke
          if (poke.type === 'poke' && poke.v === PROTOCOL_VERSION) {
            this.announced = Math.max(this.announced, poke.revision)
            if (poke.inline && poke.inline.from !== this.replica.clientId) this.inline.push(poke)
            if (poke.revision > this.current.revision) this.kick()
          }
        } catch {
          // not a message of ours
        }
      }
      ws.onopen = () => this.kick()
      ws.onerror = () => undefined
      ws.onclose = () => this.reopenLater()
    })()
  }

  private reopenLater(): void {
    if (this.stopped) return
    const t = setTimeout(() => this.openSocket(), Math.min(this.options.maxBackoff ?? 30_000, 1000 * (1 + this.failures)) * (0.5 + Math.random()))
    ;(t as { unref?: () => void }).unref?.()
  }
}
