import { ClosedError, InvalidParameterError } from '../core/errors.js'
import { RoundLoop } from '../core/round-loop.js'
import { StatusHub } from '../core/status-hub.js'
import type { Syncer, SyncStatus } from '../core/syncer.js'
import type { Replica } from '../replica/replica.js'
import { masterPath, PART_BYTES } from './layout.js'
import { MergeLog } from './merge-log.js'
import { CountingStore, type FileStore } from './store.js'
import { download, upload, uploadedKey, type FileSyncProgress, type FileSyncReport, type Linked, type TransferContext, type Uploaded } from './transfer.js'
import { webdavStore, type WebdavOptions } from './webdav.js'

export type { FileSyncProgress, FileSyncReport } from './transfer.js'

/** How serverless sync runs: `openDatabase({ files: { stores, ...options } })`. */
export interface FileSyncOptions {
  /** This client's label in the indexes (default: its client id). */
  label?: string
  /** Progress of long downloads and uploads. */
  onProgress?: (p: FileSyncProgress) => void
  /** Problems that do not stop a sync: a corrupt file skipped, a clock clamped. Default: console.warn. */
  onWarning?: (message: string) => void
  /** Sync this often once a store is linked, in ms (default 30,000; 0: only when `sync()` is called). */
  interval?: number
  /**
   * About how large a part file grows before the next one starts, in bytes
   * (default 512,000). Checkpoints replace parts whole, so smaller parts let
   * a client's folder shrink sooner, at the cost of more files to list.
   */
  partBytes?: number
}

/**
 * Serverless sync of one replica through file stores: reads the other
 * clients' new parts (own stores and peers'), merges them, and writes this
 * client's new mutations to its own folder in every linked store.
 */
export class FileSync implements Syncer {
  private readonly linked: Linked[] = []
  private loop: RoundLoop<FileSyncReport> | undefined
  private stopped = false
  private readonly stopping = new AbortController()
  private readonly log: MergeLog
  private readonly hub = new StatusHub<SyncStatus>({ phase: 'connecting', pending: 0, revision: 0 })
  private readonly totals = { syncs: 0, merged: 0, uploaded: 0, bytesRead: 0, bytesWritten: 0, skipped: 0, lastSyncAt: 0, lastError: undefined as string | undefined }

  /** @internal made by `openDatabase`; use `db.files` */
  constructor(
    private readonly replica: Replica,
    private readonly db: string,
    private readonly options: FileSyncOptions = {},
  ) {
    this.log = new MergeLog(replica)
  }

  /** Adds a store this client writes to (and reads its other devices from). */
  link(store: FileStore, options: { label?: string } = {}): void {
    if (!store || typeof store.read !== 'function') throw new InvalidParameterError('store', 'link needs a file store (folderStore, webdavStore, memoryFileStore)')
    if (this.stopped) throw new ClosedError('file sync')
    if (this.linked.some(l => l.store.url === store.url)) return
    const first = !this.linked.some(l => !l.peer)
    this.linked.push({ store: new CountingStore(store), label: options.label ?? this.options.label ?? this.replica.clientId, peer: false })
    // periodic rounds start with the first store of this client's own
    if (first && (this.options.interval ?? 30_000) > 0) this.rounds().schedule(0)
  }

  /**
   * Syncs with another user's database too: `url` is the address of their
   * master index (their `shareUrl()`), a `file:` URL or a WebDAV `http(s)` URL.
   */
  async addPeer(url: string, auth: WebdavOptions = {}): Promise<void> {
    const store = storeForMaster(url, this.db, auth)
    if (this.linked.some(l => l.store.url === store.url)) return
    this.linked.push({ store: new CountingStore(store), label: url, peer: true })
    const peers = (await this.log.state<string[]>('peers')) ?? []
    if (!peers.includes(url)) await this.log.setState('peers', [...peers, url])
  }

  /**
   * Starts (or brings up to date) this replica from a database's address —
   * a master index, as `shareUrl()` gives it — as one more device of the
   * same user: links that store (this client writes there too) and syncs.
   * A replica that already holds the database merges only what it lacks.
   */
  async fromUrl(url: string, auth: WebdavOptions = {}): Promise<FileSyncReport> {
    this.link(storeForMaster(url, this.db, auth))
    return this.sync()
  }

  /** The address of this database's master index in the first linked store: what another user passes to `addPeer`. */
  shareUrl(): string {
    const own = this.linked.find(l => !l.peer)
    if (!own) throw new InvalidParameterError('files', 'no store is linked: link one first')
    return new URL(masterPath(this.db), own.store.url.endsWith('/') ? own.store.url : `${own.store.url}/`).href
  }

  /** Totals since the database opened, for `db.stats()`. */
  get stats(): Readonly<typeof this.totals> & { stores: number; peers: number } {
    return { ...this.totals, stores: this.linked.filter(l => !l.peer).length, peers: this.linked.filter(l => l.peer).length }
  }

  /** Phase (`pulling` while downloading, `pushing` while uploading), pending mutations, last error and last sync. */
  get status(): SyncStatus {
    return this.hub.current
  }

  /** Always false: file stores announce nothing, so a replica never knows it holds everything others wrote. */
  get upToDate(): boolean {
    return false
  }

  subscribe(listener: (s: SyncStatus) => void): () => void {
    return this.hub.subscribe(listener)
  }

  /**
   * Downloads and merges what others wrote, then uploads this client's new
   * mutations. One round at a time: called while a round runs (a periodic
   * one, say), it resolves after the next round, which sees everything
   * committed before the call.
   */
  sync(): Promise<FileSyncReport> {
    if (this.stopped) return Promise.reject(new ClosedError('file sync'))
    if (this.linked.length === 0) return Promise.reject(new InvalidParameterError('files', 'no store is linked'))
    return this.rounds().run()
  }

  syncNow(): Promise<FileSyncReport> {
    return this.sync()
  }

  /** Ends file sync (`db.close()` calls it): no more rounds; resolves once the round in flight, if any, has ended. */
  async stop(): Promise<void> {
    this.stopped = true
    this.stopping.abort(new ClosedError('file sync'))
    await this.loop?.stop()
  }

  /** The round loop: every `interval` ms, backing off after failures (up to 16×). */
  private rounds(): RoundLoop<FileSyncReport> {
    const every = this.options.interval ?? 30_000
    return (this.loop ??= new RoundLoop(() => this.round(), every > 0 ? { interval: every, retry: { initial: 2 * every, max: 16 * every, jitter: 0.5 } } : {}))
  }

  private warn(message: string): void {
    ;(this.options.onWarning ?? (m => console.warn(`tidepool files: ${m}`)))(message)
  }

  /**
   * Tabs that share one IndexedDB replica each run file sync under its one
   * client id: their rounds take turns (Web Locks, named for the shared
   * replica), or one could write an index from state the other is about to
   * change, or sweep files the other's index still names. Waiting for the
   * lock ends with `stop()`.
   */
  private round(): Promise<FileSyncReport> {
    const locks = (globalThis.navigator as Navigator | undefined)?.locks
    const shared = this.replica.shared
    if (!locks || !shared) return this.roundAlone()
    return locks.request(`${shared.channel}:files`, { signal: this.stopping.signal }, () => this.roundAlone())
  }

  private async roundAlone(): Promise<FileSyncReport> {
    const before = this.linked.map(l => [l.store.bytesRead, l.store.bytesWritten] as const)
    const report: FileSyncReport = { merged: 0, uploaded: 0, skipped: [], clamped: [], bytesRead: 0, bytesWritten: 0 }
    const ctx: TransferContext = {
      db: this.db,
      clientId: this.replica.clientId,
      log: this.log,
      partBytes: this.options.partBytes ?? PART_BYTES,
      warn: m => this.warn(m),
      onProgress: this.options.onProgress,
      addPeer: url => this.addPeer(url),
    }
    try {
      this.hub.set({ phase: 'pulling' })
      for (const l of this.linked) await download(ctx, l, report)
      this.hub.set({ phase: 'pushing' })
      for (const l of this.linked) if (!l.peer) report.uploaded = Math.max(report.uploaded, await upload(ctx, l))
      // mutations every own store has now leave the outbox for the event log
      const uploaded = await Promise.all(this.linked.filter(l => !l.peer).map(async l => (await this.log.state<Uploaded>(uploadedKey(l.store))) ?? { latest: 0, parts: [] }))
      const everywhere = Math.min(...uploaded.map(u => u.latest))
      if (Number.isFinite(everywhere) && everywhere > 0) await this.log.merge({ remote: [], uploaded: everywhere })
      // what every own store holds in a checkpoint, the own log keeps compacted too
      const folded = Math.min(...uploaded.map(u => u.checkpoint?.last ?? 0))
      if (Number.isFinite(folded) && folded > (await this.log.ownFolded())) await this.log.foldOwn(folded)
      this.totals.lastError = undefined
      this.hub.set({ phase: 'in-sync', pending: await this.replica.pendingCount(), lastSyncAt: Date.now(), lastError: undefined })
    } catch (e) {
      this.totals.lastError = (e as Error).message
      this.hub.set({ phase: 'error', lastError: (e as Error).message })
      throw e
    } finally {
      this.linked.forEach((l, i) => {
        report.bytesRead += l.store.bytesRead - before[i]![0]
        report.bytesWritten += l.store.bytesWritten - before[i]![1]
      })
      this.totals.syncs++
      this.totals.merged += report.merged
      this.totals.uploaded += report.uploaded
      this.totals.bytesRead += report.bytesRead
      this.totals.bytesWritten += report.bytesWritten
      this.totals.skipped += report.skipped.length
      this.totals.lastSyncAt = Date.now()
    }
    return report
  }
}

/** The store holding another user's master index, from its address. */
function storeForMaster(url: string, db: string, auth: WebdavOptions): FileStore {
  const suffix = masterPath(db)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new InvalidParameterError('url', `${url} is not a URL (expected the address of a master index, as shareUrl() gives it)`)
  }
  if (!parsed.pathname.endsWith(`/${suffix}`)) throw new InvalidParameterError('url', `${url} is not the master index of database ${db} (it should end in ${suffix})`)
  const root = new URL(parsed.href.slice(0, parsed.href.length - suffix.length))
  if (root.protocol === 'file:') return lazyFolder(decodeURIComponent(root.pathname))
  if (root.protocol === 'http:' || root.protocol === 'https:') return webdavStore(root.href, auth)
  throw new InvalidParameterError('url', `${url}: only file: and http(s): addresses are supported`)
}

/** folderStore, loaded on first use: browsers never reach node:fs. */
function lazyFolder(path: string): FileStore {
  // a specifier no bundler can work out ahead (Vite folds a constant one): browser builds leave node:fs out
  const folderModule = ['.', 'folder.js'].join('/')
  const store = (import(/* @vite-ignore */ folderModule) as Promise<typeof import('./folder.js')>).then(m => m.folderStore(path))
  return {
    url: `file://${path}`,
    list: async p => (await store).list(p),
    read: async p => (await store).read(p),
    write: async (p, d) => (await store).write(p, d),
    delete: async p => (await store).delete(p),
  }
}
