import type { MutationResult, Rejection } from '../core/changes.js'
import { ClosedError, HttpError, roundFailure, WrongUserError } from '../core/errors.js'
import { docKey } from '../core/key.js'
import type { Mutation } from '../core/mutation.js'
import { RoundLoop } from '../core/round-loop.js'
import { Listeners, StatusHub, Waiters } from '../core/status-hub.js'
import { isConnected, type SyncStatus } from '../core/syncer.js'
import { MAX_MESSAGE_BYTES, MAX_PUSH_MUTATIONS, PROTOCOL_VERSION, type Poke, type PullRequest, type PullResponse, type PushRequest, type PushResponse } from '../protocol/messages.js'
import { utf8Length } from '../core/values.js'
import type { Replica } from '../replica/replica.js'
import { applyPull, markResync, nextStarted, rejectLocally, renumber, startResync } from './apply-pull.js'
import type { Sync } from './index.js'
import { PokeSocket, type SocketFactory } from './pokes.js'
import type { Transport } from './transport.js'

/** A push stays well under the server's message limit. */
const BATCH_BYTES = MAX_MESSAGE_BYTES / 2

/** A mutation as a push carries it. */
function pushed(m: Mutation): PushRequest['mutations'][number] {
  return { seq: m.seq, id: m.id, ops: m.ops, preconditions: m.preconditions, schemaVersion: m.schemaVersion }
}

/**
 * The next mutations to push: at most `count`, and at most BATCH_BYTES of
 * JSON in UTF-8, as the server counts (but always at least one). `tooLarge`:
 * the first alone is more than a server reads (committed by a version of the
 * library that did not check).
 */
function takeBatch(pending: Mutation[], count: number): { batch: Mutation[]; tooLarge?: number } {
  const batch: Mutation[] = []
  let bytes = 0
  for (const m of pending) {
    if (batch.length >= count) break
    const size = utf8Length(JSON.stringify(pushed(m)))
    if (batch.length === 0 && size > MAX_MESSAGE_BYTES - 1024) return { batch: [m], tooLarge: size }
    if (batch.length > 0 && bytes + size > BATCH_BYTES) break
    batch.push(m)
    bytes += size
  }
  return { batch }
}

/** A server's answer that no retry can change: the push was refused whole, for what it holds. */
function refusedWhole(e: unknown): e is HttpError {
  return e instanceof HttpError && (e.status === 400 || e.status === 413 || e.status === 415 || e.status === 422)
}

export interface EngineOptions {
  /** Mutations per push request (default 500). */
  batchSize?: number
  /** A sync round this often even without pokes, in ms: the watchdog (default 30,000; 0: none). */
  pollInterval?: number
  /** Opens the poke socket; without it the engine relies on polling. */
  socket?: SocketFactory
  /** Backoff after failures: from `minBackoff` doubling to `maxBackoff` ms, with jitter (defaults 500 and 30,000). */
  minBackoff?: number
  maxBackoff?: number
  /** `false`: a failed round is not retried by the engine (a service worker's Background Sync retries it). */
  retry?: boolean
  /** Pushes are someone else's job (a service worker): called when the outbox has mutations, instead of pushing them. */
  pushVia?: () => void
}

/**
 * Pushes the outbox and pulls server changes: after each local commit, on
 * each poke, and every `pollInterval`, so mutations never sit unpushed while
 * the server answers. Failures back off with jitter and show in `status`.
 */
export class SyncEngine implements Sync {
  private readonly hub = new StatusHub<SyncStatus>({ phase: 'connecting', pending: 0, revision: 0 })
  private readonly rejected = new Listeners<Rejection>()
  private readonly settled = new Listeners<MutationResult>()
  private readonly waiters = new Waiters<MutationResult>()
  private readonly loop: RoundLoop<void>
  private socket: PokeSocket | undefined
  private announced = 0
  /** Pokes that carried their changes, waiting for the next round. */
  private inline: Poke[] = []
  private readonly stops: Array<() => void> = []
  private stopped = false
  private lastFailure: unknown
  /** The user the replica belonged to at the last round. */
  private lastOwner: string | undefined
  /** The app asked for this round (`syncNow`): it runs even right after a sign-out. */
  private asked = false
  /** A poke came during the round: it may need one more. */
  private pokedMeanwhile = false
  /** The client id the round in flight speaks for. */
  private roundClientId = ''
  /** The last sequence number a push may have carried to the server (pushes elsewhere: all of them). */
  private sentUpTo = Infinity

  readonly leader = true

  constructor(
    private readonly replica: Replica,
    private readonly transport: Transport,
    private readonly options: EngineOptions = {},
  ) {
    this.lastOwner = replica.userId
    this.loop = new RoundLoop(() => this.guardedRound(), {
      interval: options.pollInterval ?? 30_000,
      ...(options.retry === false ? {} : { retry: { initial: options.minBackoff ?? 500, max: options.maxBackoff ?? 30_000, jitter: 0.5 } }),
    })
  }

  get status(): SyncStatus {
    return this.hub.current
  }

  /** Whether the last round reached the server. */
  get connected(): boolean {
    return isConnected(this.hub.current)
  }

  /** True while the replica has pulled everything the server announced. */
  get upToDate(): boolean {
    return this.hub.current.phase === 'in-sync' && this.hub.current.revision >= this.announced
  }

  subscribe(listener: (s: SyncStatus) => void): () => void {
    return this.hub.subscribe(listener)
  }

  onRejected(listener: (r: Rejection) => void): () => void {
    return this.rejected.add(listener)
  }

  /** Calls `listener` with the server's result for every mutation of this replica that a round settles. */
  onSettled(listener: (r: MutationResult) => void): () => void {
    return this.settled.add(listener)
  }

  /** Syncs after local commits, on pokes, on the browser's `online`, and every `pollInterval`; says `offline` on the browser's `offline`. */
  start(): void {
    this.stops.push(
      this.replica.onChange(changes => {
        // signed out (here or in another tab): a round says so in the status
        if (this.replica.userId === undefined && this.lastOwner !== undefined) return this.loop.kick()
        // with pushes delegated, a change without pending writes may be another pusher's acknowledgements
        if (changes === 'reset' || (!this.options.pushVia && !changes.some(c => c.pending))) return
        void this.replica.pendingCount().then(
          pending => this.pendingNow(pending),
          () => undefined,
        )
        this.loop.kick()
      }),
    )
    // the browser says the network is back: retry now, not when the backoff ends
    const online = () => {
      this.loop.reset()
      this.loop.kick()
    }
    // and that it is gone: the status says so at once, not when the next round fails
    const offline = () => this.hub.set({ phase: 'offline', lastError: 'the browser is offline' })
    globalThis.addEventListener?.('online', online)
    globalThis.addEventListener?.('offline', offline)
    this.stops.push(() => {
      globalThis.removeEventListener?.('online', online)
      globalThis.removeEventListener?.('offline', offline)
    })
    if (this.options.socket) {
      this.socket = new PokeSocket(
        this.options.socket,
        () => this.transport.socketUrl(),
        { onPoke: p => this.poked(p), onOpen: () => this.loop.kick() },
        this.options.maxBackoff ?? 30_000,
        this.transport.tokens,
      )
      this.socket.start()
    }
    this.loop.kick()
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const s of this.stops) s()
    this.socket?.stop()
    this.waiters.failAll(new ClosedError('sync'))
    await this.loop.stop()
  }

  /**
   * Runs a push-and-pull round now (or right after the one in flight), and
   * rejects when it did not reach the server or the server refused it:
   * `OfflineError` (no connection), `AuthenticationError` (the token), or the
   * server's error with its status.
   */
  syncNow(): Promise<void> {
    this.asked = true
    return this.loop.run().catch((e: unknown) => {
      throw roundFailure(e)
    })
  }

  /** Why the last round failed (undefined once one succeeds). */
  get failure(): unknown {
    return this.lastFailure
  }

  idle(): Promise<void> {
    return this.loop.idle()
  }

  /** One push-and-pull round now (or right after the one in flight) that rejects when it fails. */
  runRound(): Promise<void> {
    return this.loop.run()
  }

  /** Resolves with the server's result for a mutation; rejects when the connection is lost first. */
  waitFor(mutationId: string): Promise<MutationResult> {
    return this.waiters.wait(mutationId)
  }

  private poked(poke: Poke): void {
    this.announced = Math.max(this.announced, poke.revision)
    if (poke.inline && Array.isArray(poke.inline.from) && !poke.inline.from.includes(this.replica.clientId)) this.inline.push(poke)
    if (poke.revision <= this.hub.current.revision) return
    // a round in flight may well pull past it (its own push's poke, say): whether one more is needed is decided when it ends
    if (this.loop.busy) this.pokedMeanwhile = true
    else this.loop.kick()
  }

  private async guardedRound(): Promise<void> {
    try {
      this.pokedMeanwhile = false
      await this.round()
      this.transport.tokens?.pin(undefined)
      this.lastFailure = undefined
      if (this.pokedMeanwhile && this.announced > this.hub.current.revision) this.loop.kick()
    } catch (e) {
      this.transport.tokens?.pin(undefined)
      this.lastFailure = e
      const offline = e instanceof HttpError && e.status === 0
      this.hub.set({ phase: offline ? 'offline' : 'error', lastError: (e as Error).message })
      this.waiters.failAll(e)
      throw e
    }
  }

  /** Pushes everything pending, then pulls. */
  private async round(): Promise<void> {
    // another tab or worker may have taken a new client id
    if (this.replica.shared) await this.replica.refreshClientId()
    // the identity this round speaks for (read together): a sign-out meanwhile ends the round
    this.roundClientId = this.replica.clientId
    // a replica belongs to one user: another user's token pushes none of its writes
    const owner = this.replica.userId
    const asked = this.asked
    this.asked = false
    if (owner === undefined && this.lastOwner !== undefined) {
      // signed out here or in another tab: the socket and the pokes it brought were the last user's
      this.inline = []
      this.socket?.restart()
    }
    this.lastOwner = owner
    // nobody's yet, or signed out: ask the app whose token it is now
    if (owner === undefined) this.transport.tokens?.forget()
    const tokens = this.transport.tokens
    const sub = tokens ? tokens.claims(await tokens.get()).sub : undefined
    if (owner !== undefined && sub !== undefined && sub !== owner) throw new WrongUserError(owner, sub)
    // signed out, and the token still names who signed out: nothing syncs on its own (in any tab) until another user's token, or syncNow()
    const gone = this.replica.signedOut
    if (owner === undefined && gone !== undefined && !asked && (sub === undefined || sub === gone)) {
      this.hub.set({ phase: 'signed-out', pending: await this.replica.pendingCount(), revision: 0, lastError: undefined })
      return
    }
    // every request of the round goes out as this user, or not at all
    tokens?.pin(owner ?? sub)
    if (this.signedOutMeanwhile()) return
    const pushed = this.options.pushVia ? await this.delegatePush() : await this.push()
    // pokes that carry their changes and continue exactly from what this replica has: no pull needed
    // not while anything waits in the outbox (a service worker may have pushed it): inline changes carry no results, and skipping past one would lose it
    if (!pushed && (await this.replica.pendingCount()) === 0 && (await this.applyInline())) return
    if (this.signedOutMeanwhile()) return
    await this.pull(this.roundClientId)
  }

  /** The replica took another client id than this round's (signed out): the round's answers are not for it. */
  private signedOutMeanwhile(): boolean {
    return this.replica.clientId !== this.roundClientId
  }

  private async delegatePush(): Promise<boolean> {
    this.sentUpTo = Infinity
    const pending = await this.replica.pendingCount()
    if (pending) this.options.pushVia!()
    this.pendingNow(pending)
    return false
  }

  /**
   * Pushes the outbox as the round starts (commits made meanwhile kick
   * another round); whether anything was pushed. A push refused whole for
   * what it holds is pushed again a mutation at a time, and the one the
   * server refuses alone becomes a stored rejection: one bad mutation never
   * holds back the ones behind it.
   */
  private async push(): Promise<boolean> {
    let outbox = await this.replica.outbox()
    this.sentUpTo = outbox.at(-1)?.seq ?? 0
    let from = 0
    let pushedAny = false
    let single = false
    for (;;) {
      const clientId = this.replica.clientId
      const { batch, tooLarge } = takeBatch(outbox.slice(from), single ? 1 : Math.min(this.options.batchSize ?? 500, MAX_PUSH_MUTATIONS))
      this.hub.set({ phase: batch.length ? 'pushing' : this.hub.current.phase, pending: outbox.length })
      if (batch.length === 0) return pushedAny
      let res: PushResponse
      try {
        if (tooLarge) throw new HttpError(413, 'too-large', `mutation ${batch[0]!.seq} is ${tooLarge} bytes in UTF-8, more than a server reads`)
        // what it has pulled: the server may forget the outcomes up to there
        const { pulledRevision } = await this.replica.head()
        res = await this.transport.push({ type: 'push', v: PROTOCOL_VERSION, clientId, mutations: batch.map(pushed), pulled: pulledRevision })
      } catch (e) {
        if (!refusedWhole(e)) throw e
        if (batch.length > 1) {
          single = true
          continue
        }
        for (const r of await rejectLocally(this.replica, batch[0]!, `the server refused it: ${e.message}`)) this.reject(r)
        outbox = await this.replica.outbox()
        from = 0
        single = false
        continue
      }
      this.announced = Math.max(this.announced, res.revision)
      if (res.user !== undefined) await this.replica.claimUser(res.user, clientId)
      if (res.stopped?.reason === 'client-diverged') {
        await renumber(this.replica)
        // renumbered after the server said the client diverged: the new id is this round's too
        this.roundClientId = this.replica.clientId
        outbox = await this.replica.outbox()
        from = 0
        continue
      }
      if (res.stopped) throw new HttpError(409, res.stopped.reason, res.stopped.message)
      from += batch.length
      pushedAny = true
    }
  }

  private async pull(clientId: string): Promise<void> {
    this.hub.set({ phase: 'pulling' })
    let pulled: PullResponse
    const acked: Mutation[] = []
    const rejected: Rejection[] = []
    const results: MutationResult[] = []
    let stale: boolean
    // while a resync runs: every document it has brought, so that once it ends what it did not bring is dropped
    let resynced: Set<string> | undefined
    // this client's own acknowledged writes sent back too: in a resync begun again, the outcomes it settled before come again, without what they wrote
    let whole = false
    let heldNothing = false
    // a first sync's documents received of the total its first page named
    let progress: { done: number; total: number } | undefined
    // the next page, asked for while this one is applied: the server reads it meanwhile
    let ahead: { request: PullRequest; response: Promise<PullResponse> } | undefined
    const ask = (request: PullRequest): Promise<PullResponse> => {
      const wanted = ahead
      ahead = undefined
      if (wanted && wanted.request.since === request.since && wanted.request.base === request.base && wanted.request.started === request.started && wanted.request.whole === request.whole) return wanted.response
      return this.transport.pull(request)
    }
    do {
      let head = await this.replica.head()
      // a resync interrupted (a restart, the connection lost) starts again from nothing: the documents it brought before are not known here
      if (head.resync && !resynced) {
        head = await startResync(this.replica)
        resynced = new Set()
        whole = true
      }
      const { pulledRevision: since, pullBase: base } = head
      // a pull from 0 names where its first page stood; one from a revision is held to that revision already
      const started = base === 0 ? head.pullStarted : undefined
      pulled = await ask({ type: 'pull', v: PROTOCOL_VERSION, clientId, since, ...(base !== undefined ? { base } : {}), ...(started !== undefined ? { started } : {}), ...(whole ? { whole: true as const } : {}) })
      if (pulled.resync) {
        // the server forgot the history since this replica's revision (or since this paged pull began): everything again, from the
        // start, and what that does not bring is dropped, also when the pages before were a first sync's
        await startResync(this.replica)
        resynced = new Set()
        whole = true
        heldNothing = false
        stale = true
        continue
      }
      if (since === 0 && pulled.more && !resynced) {
        // a pull from nothing that takes pages is a resync too: interrupted and resumed after the server compacted past its pages, it starts again rather than miss deletes
        await markResync(this.replica)
        resynced = new Set()
        heldNothing = true
      }
      if (pulled.more) {
        // as the replica will stand once this page is in; a page asked for otherwise is dropped unused (its failure with it)
        // as applyPull will store it: the page asked for ahead is the one the loop asks for next
        const next = nextStarted(head, since, pulled)
        const request: PullRequest = { type: 'pull', v: PROTOCOL_VERSION, clientId, since: pulled.revision, base: base ?? since, ...(next !== undefined ? { started: next } : {}), ...(whole ? { whole: true as const } : {}) }
        ahead = { request, response: this.transport.pull(request) }
        ahead.response.catch(() => undefined)
      }
      for (const c of resynced ? pulled.changes : []) resynced!.add(docKey(c.collection, c.id))
      const applied = await applyPull(this.replica, pulled, since, { sentUpTo: this.sentUpTo, clientId, ...(resynced ? { resynced, heldNothing } : {}) })
      // its own writes acknowledged on the way are the server's documents too (a first page may leave them out: the client has them)
      for (const m of resynced ? applied.acked : []) for (const op of m.ops) resynced!.add(docKey(op.collection, op.id))
      // signed out meanwhile: the next round starts over, as whoever signs in
      if (this.signedOutMeanwhile()) return
      stale = applied.stale
      acked.push(...applied.acked)
      rejected.push(...applied.rejected)
      results.push(...pulled.results)
      if (pulled.total !== undefined) progress = { done: 0, total: pulled.total }
      if (progress) progress = { done: Math.min(progress.total, progress.done + pulled.changes.length), total: progress.total }
      if (!stale) this.hub.set({ revision: pulled.revision, ...(progress ? { progress } : {}) })
    } while ((pulled.more || stale) && !this.stopped)
    this.announced = Math.max(this.announced, pulled.revision)
    this.hub.set({ ...(await this.settledStatus(pulled.revision)), progress: undefined, lastSyncAt: Date.now(), lastError: undefined })
    // the status is current before anyone waiting on these mutations resumes
    for (const m of acked) this.settle(m.id, results.find(r => r.id === m.id)!)
    for (const r of rejected) this.reject(r, results.find(x => x.id === r.id)!)
  }

  /** Tells whoever waits for it, and every rejection listener, of a rejected mutation. */
  private reject(r: Rejection, result: MutationResult = { seq: r.mutation.seq, id: r.id, status: 'rejected', revision: 0, reason: r.reason, message: r.message }): void {
    this.settle(r.id, result)
    this.rejected.emit(r)
  }

  /**
   * Applies queued inline pokes that chain from the pulled revision up to
   * the latest announced one (each starts at or before where the one before
   * ends); false when a pull is needed.
   */
  private async applyInline(): Promise<boolean> {
    const pokes = this.inline.sort((a, b) => a.revision - b.revision)
    this.inline = []
    let revision = (await this.replica.head()).pulledRevision
    const chain: Array<{ poke: Poke; since: number }> = []
    for (const p of pokes) {
      if (p.revision <= revision) continue
      if (p.inline!.base > revision) return false
      chain.push({ poke: p, since: revision })
      revision = p.revision
    }
    if (chain.length === 0 || revision < this.announced) return false
    for (const { poke, since } of chain) {
      if ((await applyPull(this.replica, { revision: poke.revision, changes: poke.inline!.changes, results: [] }, since)).stale) return false
    }
    this.hub.set({ ...(await this.settledStatus(revision)), lastSyncAt: Date.now(), lastError: undefined })
    return true
  }

  /** Writes wait to be pushed: a status that said in-sync says pushing (the round they kicked follows). */
  private pendingNow(pending: number): void {
    this.hub.set({ pending, ...(pending > 0 && this.hub.current.phase === 'in-sync' ? { phase: 'pushing' as const } : {}) })
  }

  /**
   * Where a round that reached the server leaves the status: `in-sync` only
   * with nothing pending and everything announced pulled; otherwise the
   * round that follows (a commit or a poke kicked it) is what it waits for;
   * `offline` while the browser says so.
   */
  private async settledStatus(revision: number): Promise<Pick<SyncStatus, 'phase' | 'pending' | 'revision'>> {
    const pending = await this.replica.pendingCount()
    // a round answered just before the browser went offline must not say in-sync over the offline it announced
    if ((globalThis.navigator as Navigator | undefined)?.onLine === false) return { phase: 'offline', pending, revision }
    return { phase: pending > 0 ? 'pushing' : revision < this.announced ? 'pulling' : 'in-sync', pending, revision }
  }

  private settle(id: string, result: MutationResult): void {
    this.waiters.settle(id, result)
    this.settled.emit(result)
  }
}
