import { docKey, splitDocKey } from '../core/key.js'
import { KeepAlive } from '../core/keep-alive.js'
import type { JsonObject } from '../core/json.js'
import { readHead } from './head.js'
import { localView, seqKey, STORES, type DocRecord } from './records.js'
import type { Store } from './store.js'

/** A changelog entry as tabs announce it: the document keys one commit or pull changed. */
export interface ChangeNotice {
  changeSeq: number
  keys: string[]
}

export interface PeerNotices {
  post(notice: ChangeNotice): void
  subscribe(listener: (notice: ChangeNotice) => void): () => void
}

/** A document that changed, as it is now (undefined: deleted). */
export interface DocChange {
  collection: string
  id: string
  doc: JsonObject | undefined
  pending: boolean
}

/** Change events: the documents a commit changed, or `reset` when changes were missed and everything must be re-read. */
export type ChangeListener = (changes: DocChange[] | 'reset') => void

/**
 * Delivers document changes to a replica's listeners: those of its own
 * writes at once, and those of other writers (processes on a SQLite file,
 * tabs on IndexedDB) by catching up from the changelog that every write
 * appends to, woken by the storage's watch or by other tabs' notices.
 */
export class ChangeFeed {
  private readonly listeners = new Set<ChangeListener>()
  private stopWatching: (() => void) | undefined
  /** The last changelog entry this replica has delivered to its listeners. */
  private seenChange = 0
  private readonly ownChanges = new Set<number>()
  private catchingUp: Promise<void> | undefined
  /** A notice arrived while catching up: read again when done. */
  private catchUpAgain = false
  private hint: ChangeNotice | undefined
  private closed = false
  private readonly alive = new KeepAlive()

  constructor(
    private readonly storage: Store,
    private readonly peers: PeerNotices | undefined,
    /** Called when changes made elsewhere arrive: the head they wrote may name another client or user (after a sign-out). */
    private readonly elsewhere: () => Promise<unknown>,
    /** A stored document as the app reads it (undefined: kept aside), as this replica's own changes are delivered. */
    private readonly shown: (collection: string, id: string, doc: JsonObject | undefined) => JsonObject | undefined,
  ) {}

  /** Starts after changelog entry `seen` (what the replica held when it opened). */
  start(seen: number): void {
    this.seenChange = seen
  }

  /** Calls `listener` after every change to the documents, made here or, where the storage can tell, elsewhere. */
  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener)
    if (this.listeners.size === 1) {
      // someone listens (a live query, a sync engine): a Node process stays up for them
      const stops = [this.storage.watch(() => void this.catchUp()), this.peers?.subscribe(n => void this.catchUp(n)), this.alive.hold()]
      this.stopWatching = () => stops.forEach(s => s?.())
    }
    return () => {
      this.listeners.delete(listener)
      if (this.listeners.size === 0) {
        this.stopWatching?.()
        this.stopWatching = undefined
      }
    }
  }

  /** Delivers the changes of a write made here (logged as changelog entry `changeSeq`), and tells the other tabs. */
  deliver(changes: DocChange[], changeSeq: number): void {
    if (!changes.length) return
    this.peers?.post({ changeSeq, keys: changes.map(c => docKey(c.collection, c.id)) })
    this.ownChanges.add(changeSeq)
    this.emit(changes)
    // another writer committed in between: catch up on what it changed (only listeners care)
    if (changeSeq !== this.seenChange + 1 && this.listeners.size > 0) void this.catchUp()
    else this.advanceSeen(changeSeq)
  }

  private emit(changes: DocChange[] | 'reset'): void {
    for (const l of [...this.listeners]) l(changes)
  }

  private advanceSeen(changeSeq: number): void {
    this.seenChange = Math.max(this.seenChange, changeSeq)
    for (const s of this.ownChanges) if (s <= this.seenChange) this.ownChanges.delete(s)
  }

  /**
   * Reads the changelog entries this replica has not delivered and delivers
   * the documents they name; a tab's notice of the very next entry names its
   * keys, which spares reading the changelog. Runs in the background: it
   * never rejects. A notice that arrives meanwhile makes it read again, so
   * none is lost.
   */
  catchUp(hint?: ChangeNotice): Promise<void> {
    if (this.catchingUp) {
      this.catchUpAgain = true
      return this.catchingUp
    }
    this.hint = hint
    this.catchingUp = (async () => {
      try {
        do {
          this.catchUpAgain = false
          const hint = this.hint
          this.hint = undefined
          await this.catchUpOnce(hint?.changeSeq === this.seenChange + 1 ? hint : undefined)
        } while (this.catchUpAgain && !this.closed)
      } catch (e) {
        // closed meanwhile: nothing left to deliver to
        if (!this.closed) console.warn('tidepool: could not read changes made elsewhere', e)
      } finally {
        this.catchingUp = undefined
      }
    })()
    return this.catchingUp
  }

  private async catchUpOnce(next: ChangeNotice | undefined): Promise<void> {
    const keys = new Set<string>()
    let latest: number
    if (next) {
      latest = next.changeSeq
      for (const key of next.keys) keys.add(key)
    } else {
      const read = await this.storage.read(async r => ({
        entries: await r.scan(STORES.changes, { gt: seqKey(this.seenChange) }),
        latest: (await readHead(r)).changeSeq,
      }))
      latest = read.latest
      if (latest <= this.seenChange) return
      const first = read.entries[0] ? Number(read.entries[0][0]) : latest + 1
      if (first > this.seenChange + 1) {
        this.advanceSeen(latest)
        this.emit('reset')
        return
      }
      for (const [k, v] of read.entries) if (!this.ownChanges.has(Number(k))) for (const key of v as string[]) keys.add(key)
    }
    const list = [...keys]
    const [records] = await Promise.all([this.storage.getMany(STORES.docs, list), this.elsewhere()])
    this.advanceSeen(latest)
    if (list.length) {
      this.emit(
        list.map((k, i) => {
          const r = records[i] as DocRecord | undefined
          const { collection, id } = splitDocKey(k)
          return { collection, id, doc: this.shown(collection, id, localView(r)), pending: r?.view !== undefined }
        }),
      )
    }
  }

  close(): void {
    this.closed = true
    this.stopWatching?.()
    this.stopWatching = undefined
    this.listeners.clear()
  }
}
