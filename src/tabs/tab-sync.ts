import type { MutationResult, Rejection } from '../core/changes.js'
import { AuthenticationError, ClosedError, HttpError, OfflineError, TidepoolError } from '../core/errors.js'
import { Listeners, StatusHub, Waiters } from '../core/status-hub.js'
import { isConnected, type SyncStatus } from '../core/syncer.js'
import type { Replica } from '../replica/replica.js'
import type { SyncEngine } from '../sync/engine.js'
import type { Sync } from '../sync/index.js'
import type { SyncFailure, TabChannel, TabMessage } from './channel.js'
import { electLeader, type Leadership } from './leader.js'

export interface TabSyncOptions {
  /** Starts the engine in this tab when it becomes the leader. */
  start: () => Promise<SyncEngine>
  /** Passed to the leader election (tests force the lease with `null`). */
  locks?: LockManager | null
}

function hidden(): boolean {
  return (globalThis as { document?: Document }).document?.visibilityState === 'hidden'
}

/**
 * Sync for one tab of a replica that several tabs share: the leader runs the
 * engine (the only server connection); the others mirror its status, hear its
 * rejections and verdicts, and wake it after their own commits (their change
 * notices reach the leader's engine as pending changes). A visible tab takes
 * the lead from a hidden one, whose timers the browser throttles.
 */
export class TabSync implements Sync {
  private engine: SyncEngine | undefined
  private readonly hub = new StatusHub<SyncStatus>({ phase: 'connecting', pending: 0, revision: 0 })
  private leaderUpToDate = false
  private leaderHidden = false
  private readonly rejectedListeners = new Listeners<Rejection>()
  /** Verdicts this tab waits for, whoever leads. */
  private readonly waiters = new Waiters<MutationResult>()
  /** This tab's `syncNow` calls, waiting for the leader's round. */
  private readonly wakes = new Waiters<void>()
  private readonly stops: Array<() => void> = []
  private engineStops: Array<() => void> = []
  /** Leadership changes, one at a time: an engine stops before another starts. */
  private transition: Promise<void> = Promise.resolve()
  private stopped = false
  private readonly leadership: Leadership

  constructor(
    replica: Replica,
    private readonly channel: TabChannel,
    private readonly options: TabSyncOptions,
  ) {
    this.leadership = electLeader({ name: `${channel.name}:leader`, replica, locks: options.locks })
    this.stops.push(
      this.leadership.onChange(leader => {
        this.transition = this.transition.then(() => (leader ? this.lead() : this.follow()))
      }),
      channel.on(m => this.receive(m)),
    )
    const onVisibility = () => this.visibilityChanged()
    globalThis.document?.addEventListener('visibilitychange', onVisibility)
    this.stops.push(() => globalThis.document?.removeEventListener('visibilitychange', onVisibility))
    channel.post({ type: 'hello' })
  }

  get status(): SyncStatus {
    return this.hub.current
  }

  get leader(): boolean {
    return this.engine !== undefined
  }

  get connected(): boolean {
    return isConnected(this.hub.current)
  }

  get upToDate(): boolean {
    return this.engine ? this.engine.upToDate : this.leaderUpToDate
  }

  subscribe(listener: (s: SyncStatus) => void): () => void {
    return this.hub.subscribe(listener)
  }

  onRejected(listener: (r: Rejection) => void): () => void {
    return this.rejectedListeners.add(listener)
  }

  /** Resolves after a round of the leader's that began after the call, so it saw this tab's commits (or when sync stops). */
  syncNow(): Promise<void> {
    if (this.engine) return this.engine.syncNow()
    const id = globalThis.crypto.randomUUID()
    const synced = this.wakes.wait(id)
    this.channel.post({ type: 'wake', id })
    // the leader's round failed: its error, as this tab can rebuild it; sync stopping here is no failure of a round
    return synced.catch((e: unknown) => {
      if (!(e instanceof ClosedError)) throw e
    })
  }

  get failure(): unknown {
    return this.engine?.failure
  }

  /** This tab's engine's round in flight; the leader's, in another tab, this tab cannot wait for. */
  async idle(): Promise<void> {
    await this.engine?.idle()
  }

  waitFor(mutationId: string): Promise<MutationResult> {
    const verdict = this.waiters.wait(mutationId)
    if (this.engine) this.waitOnEngine(this.engine, mutationId)
    else this.channel.post({ type: 'wait', id: mutationId })
    return verdict
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const s of this.stops) s()
    this.leadership.release()
    await this.transition
    await this.follow()
    this.waiters.failAll(new ClosedError('sync'))
    this.wakes.failAll(new ClosedError('sync'))
  }

  private async lead(): Promise<void> {
    if (this.stopped || this.engine) return
    const engine = await this.options.start()
    if (this.stopped || !this.leadership.isLeader) return void (await engine.stop())
    this.engine = engine
    this.engineStops.push(
      engine.subscribe(s => {
        this.setStatus(s)
        this.channel.post({ type: 'status', status: s, upToDate: engine.upToDate })
      }),
      engine.onRejected(r => {
        this.channel.post({ type: 'rejected', rejection: r })
        this.rejected(r)
      }),
    )
    this.announce()
    for (const id of this.waiters.ids()) this.waitOnEngine(engine, id)
    // asks that no leader answered: this tab's own engine answers them now
    for (const id of [...this.wakes.ids()]) {
      engine.syncNow().then(
        () => this.wakes.settle(id, undefined),
        (e: unknown) => this.wakes.fail(id, e),
      )
    }
  }

  private async follow(): Promise<void> {
    const engine = this.engine
    this.engine = undefined
    for (const s of this.engineStops) s()
    this.engineStops = []
    await engine?.stop()
  }

  /** Asks the engine for a verdict that this tab (`from` undefined) or another tab waits for. */
  private waitOnEngine(engine: SyncEngine, id: string, from?: string): void {
    engine.waitFor(id).then(
      result => (from ? this.channel.post({ type: 'result', id, result }) : this.settle(id, result)),
      // this tab's own wait fails with the engine's own error; another tab's hears its message
      (e: Error) => (from ? this.channel.post({ type: 'result', id, error: e.message }) : this.waiters.fail(id, e)),
    )
  }

  private receive(m: TabMessage): void {
    if (this.stopped) return
    switch (m.type) {
      case 'hello':
        if (this.engine) this.announce()
        break
      case 'wake': {
        const id = m.id
        if (this.engine) {
          this.engine.syncNow().then(
            () => id && this.channel.post({ type: 'synced', id }),
            (e: unknown) => id && this.channel.post({ type: 'synced', id, error: describeFailure(e) }),
          )
        }
        break
      }
      case 'synced':
        if (m.error) this.wakes.fail(m.id, reviveFailure(m.error))
        else this.wakes.settle(m.id, undefined)
        break
      case 'wait':
        if (this.engine) this.waitOnEngine(this.engine, m.id, m.from)
        break
      case 'leader':
        if (this.engine) break
        this.leaderHidden = m.hidden
        // a new leader: it learns what this tab still waits for
        for (const id of this.waiters.ids()) this.channel.post({ type: 'wait', id })
        for (const id of this.wakes.ids()) this.channel.post({ type: 'wake', id })
        this.visibilityChanged()
        break
      case 'status':
        if (this.engine) break
        this.leaderUpToDate = m.upToDate
        this.setStatus(m.status)
        break
      case 'rejected':
        this.rejected(m.rejection)
        break
      case 'result':
        this.settle(m.id, m.result, m.error)
        break
      case 'changes':
        break
    }
  }

  private announce(): void {
    this.channel.post({ type: 'leader', hidden: hidden() })
    this.channel.post({ type: 'status', status: this.hub.current, upToDate: this.upToDate })
  }

  private visibilityChanged(): void {
    if (this.engine) this.channel.post({ type: 'leader', hidden: hidden() })
    else if (this.leaderHidden && !hidden()) {
      this.leaderHidden = false
      this.leadership.takeOver()
    }
  }

  private settle(id: string, result: MutationResult | undefined, error?: string): void {
    if (result) this.waiters.settle(id, result)
    // the leader lost its connection before the verdict
    else this.waiters.fail(id, new HttpError(0, 'offline', error ?? 'no verdict'))
  }

  private rejected(r: Rejection): void {
    this.rejectedListeners.emit(r)
  }

  private setStatus(s: SyncStatus): void {
    this.hub.replace(s)
  }
}

/** A round's failure as it crosses to another tab (errors do not survive a BroadcastChannel as classes). */
function describeFailure(e: unknown): SyncFailure {
  const err = e as Error & { status?: number; code?: string }
  return { name: err?.name ?? 'Error', message: err?.message ?? String(e), ...(typeof err?.status === 'number' ? { status: err.status, code: err.code ?? 'error' } : {}) }
}

function reviveFailure(f: SyncFailure): Error {
  if (f.name === 'OfflineError') return new OfflineError(false, f.message)
  if (f.name === 'AuthenticationError') return new AuthenticationError(f.message)
  if (f.status !== undefined) return new HttpError(f.status, f.code ?? 'error', f.message)
  return new TidepoolError(f.message)
}
