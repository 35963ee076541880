import { CorruptFileError, InvalidParameterError } from '../core/errors.js'
import type { LoggedMutation } from '../core/mutation.js'
import type { Replica } from '../replica/replica.js'
import { MergeLog } from './merge-log.js'
import {
  clientIndexPath,
  clientsListed,
  dbFolder,
  FORMAT,
  masterPath,
  parseClientIndex,
  parseMaster,
  parsePart,
  PART_BYTES,
  partPath,
  serialize,
  type ClientIndex,
  type MasterIndex,
} from './layout.js'
import { byteLength, CountingStore, type FileStore } from './store.js'
import { webdavStore, type WebdavOptions } from './webdav.js'

/** What one `sync()` did. */
export interface FileSyncReport {
  /** Other clients' mutations merged. */
  merged: number
  /** This client's mutations written (to each store that lacked them). */
  uploaded: number
  /** Files skipped as missing, truncated or malformed (they are read again next time). */
  skipped: string[]
  /** Clients whose clocks ran more than MAX_DRIFT ahead of this machine's. */
  clamped: string[]
  bytesRead: number
  bytesWritten: number
}

export interface FileSyncProgress {
  phase: 'download' | 'upload'
  store: string
  /** Parts done and to do in this phase for this store. */
  done: number
  total: number
}

export interface FileSyncOptions {
  /** This client's label in the indexes (default: its client id). */
  label?: string
  /** Progress of long downloads and uploads. */
  onProgress?: (p: FileSyncProgress) => void
  /** Problems that do not stop a sync: a corrupt file skipped, a clock clamped. Default: console.warn. */
  onWarning?: (message: string) => void
  /** Sync this often once a store is linked, in ms (default 30,000; 0: only when `sync()` is called). */
  interval?: number
}

interface Linked {
  store: CountingStore
  label: string
  /** A peer: another user's store, read only. */
  peer: boolean
}

/** What was written to one store: its parts and the last sequence number in them. */
interface Uploaded {
  latest: number
  parts: Array<{ first: number; last: number; bytes: number }>
  /** The peers the master index was last written with. */
  peers?: string[]
}

/**
 * Serverless sync of one replica through file stores: reads the other
 * clients' new parts (own stores and peers'), merges them, and writes this
 * client's new mutations to its own folder in every linked store.
 */
export class FileSync {
  private readonly linked: Linked[] = []
  private running: Promise<FileSyncReport> | undefined
  private queued: Promise<FileSyncReport> | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private failures = 0
  private stopped = false
  private readonly log: MergeLog
  private readonly totals = { syncs: 0, merged: 0, uploaded: 0, bytesRead: 0, bytesWritten: 0, skipped: 0, lastSyncAt: 0, lastError: undefined as string | undefined }

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
    if (this.linked.some(l => l.store.url === store.url)) return
    this.linked.push({ store: new CountingStore(store), label: options.label ?? this.options.label ?? this.replica.clientId, peer: false })
    if (this.timer === undefined && (this.options.interval ?? 30_000) > 0) this.start(this.options.interval ?? 30_000)
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

  /**
   * Downloads and merges what others wrote, then uploads this client's new
   * mutations. One round at a time: called while a round runs (a periodic
   * one, say), it resolves after the next round, which sees everything
   * committed before the call.
   */
  sync(): Promise<FileSyncReport> {
    if (!this.running) {
      this.running = this.round().finally(() => (this.running = undefined))
      return this.running
    }
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined
        return this.sync()
      })
    return this.queued
  }

  /** Syncs every `interval` ms, backing off after failures (up to 16×). */
  private start(interval: number): void {
    const next = (ms: number) => {
      if (this.stopped) return
      this.timer = setTimeout(() => {
        this.sync().then(
          () => {
            this.failures = 0
            next(interval)
          },
          () => {
            this.failures++
            next(interval * Math.min(16, 2 ** this.failures))
          },
        )
      }, ms)
      ;(this.timer as { unref?: () => void }).unref?.()
    }
    next(0)
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running?.catch(() => undefined)
  }

  private warn(message: string): void {
    ;(this.options.onWarning ?? (m => console.warn(`tidepool files: ${m}`)))(message)
  }

  private async round(): Promise<FileSyncReport> {
    if (this.linked.length === 0) throw new InvalidParameterError('files', 'no store is linked')
    const before = this.linked.map(l => [l.store.bytesRead, l.store.bytesWritten] as const)
    const report: FileSyncReport = { merged: 0, uploaded: 0, skipped: [], clamped: [], bytesRead: 0, bytesWritten: 0 }
    try {
      for (const l of this.linked) await this.download(l, report)
      for (const l of this.linked) if (!l.peer) report.uploaded = Math.max(report.uploaded, await this.upload(l))
      // mutations every own store has now leave the outbox for the event log
      const everywhere = Math.min(...(await Promise.all(this.linked.filter(l => !l.peer).map(async l => (await this.log.state<Uploaded>(`uploaded/${l.store.url}`))?.latest ?? 0))))
      if (Number.isFinite(everywhere) && everywhere > 0) await this.log.merge({ remote: [], uploaded: everywhere })
      this.totals.lastError = undefined
    } catch (e) {
      this.totals.lastError = (e as Error).message
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

  /** Reads a file that may be missing or corrupt; skipped files are reported, never fatal. */
  private async readParsed<T>(store: FileStore, path: string, parse: (path: string, text: string) => T, report: FileSyncReport): Promise<T | undefined> {
    const text = await store.read(path)
    if (text === undefined) return undefined
    try {
      return parse(path, text)
    } catch (e) {
      if (!(e instanceof CorruptFileError)) throw e
      report.skipped.push(`${store.url}${path}`)
      this.warn(`skipped ${e.message}`)
      return undefined
    }
  }

  private async download(l: Linked, report: FileSyncReport): Promise<void> {
    const { store } = l
    const master = await this.readParsed(store, masterPath(this.db), parseMaster, report)
    if (master && !l.peer) for (const url of Object.keys(master.peers)) await this.addPeer(url).catch(e => this.warn(`peer ${url}: ${(e as Error).message}`))
    const listed = clientsListed(this.db, await store.list(dbFolder(this.db)))
    const clients = [...new Set([...Object.keys(master?.clients ?? {}), ...listed])].filter(id => id !== this.replica.clientId).sort()
    const merged = await this.log.mergedUpTo()
    const wanted: Array<{ clientId: string; index: ClientIndex; from: number }> = []
    for (const clientId of clients) {
      const index = await this.readParsed(store, clientIndexPath(this.db, clientId), parseClientIndex, report)
      const from = merged[clientId] ?? 0
      if (index && index.latest > from) wanted.push({ clientId, index, from })
    }
    const total = wanted.reduce((n, w) => n + w.index.parts.filter(p => p.last > w.from).length, 0)
    let done = 0
    for (const { clientId, index, from } of wanted) {
      const mutations: LoggedMutation[] = []
      let next = from + 1
      for (const p of index.parts.filter(p => p.last > from).sort((a, b) => a.first - b.first)) {
        const part = await this.readParsed(store, partPath(this.db, clientId, p.first), parsePart, report)
        this.options.onProgress?.({ phase: 'download', store: store.url, done: ++done, total })
        // a missing or half-synced part: take what comes before it, and read it again next time
        if (!part || part.clientId !== clientId || part.first > next) break
        for (const m of part.mutations) {
          if (m.seq !== next || m.seq > index.latest) continue
          mutations.push(m)
          next++
        }
      }
      if (!mutations.length) continue
      const result = await this.log.merge({ remote: [{ clientId, mutations }] })
      report.merged += result.merged
      for (const c of result.clamped) {
        if (!report.clamped.includes(c)) report.clamped.push(c)
        this.warn(`client ${c}'s clock runs more than 5 minutes ahead of this machine's; its changes win over newer ones until the clocks agree`)
      }
    }
  }

  /**
   * Updates the master index, last. Where the store has conditional writes,
   * a concurrent writer makes this one read again and retry; elsewhere a lost
   * race hides nobody, since readers also list the client folders.
   */
  private async writeMaster(store: CountingStore, update: (m: MasterIndex) => void): Promise<void> {
    const path = masterPath(this.db)
    const fresh = (): MasterIndex => ({ format: FORMAT, db: this.db, clients: {}, peers: {} })
    const parsed = (text: string | undefined) => {
      if (text === undefined) return fresh()
      try {
        return parseMaster(path, text)
      } catch (e) {
        if (!(e instanceof CorruptFileError)) throw e
        // a corrupt master index is rebuilt: the clients list themselves by their folders
        return fresh()
      }
    }
    if (store.conditional) {
      for (let attempt = 0; attempt < 8; attempt++) {
        const current = await store.readVersioned(path)
        const master = parsed(current?.text)
        update(master)
        if (current && current.version === undefined) break // the store gave no version: write plainly
        if (await store.writeIfUnchanged(path, serialize(master), current?.version)) return
      }
    }
    const master = parsed(await store.read(path))
    update(master)
    await store.write(path, serialize(master))
  }

  /** Writes this client's mutations that the store lacks: parts, then the client index, then the master index. */
  private async upload(l: Linked): Promise<number> {
    const { store } = l
    const key = `uploaded/${store.url}`
    const state = (await this.log.state<Uploaded>(key)) ?? { latest: 0, parts: [] }
    const fresh = await this.log.ownMutations(state.latest)
    const indexPath = clientIndexPath(this.db, this.replica.clientId)
    const peers = (await this.log.state<string[]>('peers')) ?? []
    // nothing new to say: a sync that found nothing new reads only the indexes and writes nothing
    if (fresh.length === 0 && (state.peers ?? []).join() === peers.join()) return 0
    // the newest part is rewritten with the new mutations until it is full
    const parts = [...state.parts]
    const open = parts.at(-1)
    let current: LoggedMutation[] = open && open.bytes < PART_BYTES ? (await this.log.ownMutations(open.first - 1)).filter(m => m.seq <= open.last) : []
    if (current.length) parts.pop()
    const toWrite: Array<{ first: number; mutations: LoggedMutation[] }> = []
    let size = current.length ? byteLength(JSON.stringify(current)) : 0
    for (const m of fresh) {
      const bytes = byteLength(JSON.stringify(m))
      if (current.length && size + bytes > PART_BYTES) {
        toWrite.push({ first: current[0]!.seq, mutations: current })
        current = []
        size = 0
      }
      current.push(m)
      size += bytes
    }
    if (current.length) toWrite.push({ first: current[0]!.seq, mutations: current })
    let done = 0
    for (const p of toWrite) {
      const text = serialize({ format: FORMAT, clientId: this.replica.clientId, first: p.first, mutations: p.mutations })
      await store.write(partPath(this.db, this.replica.clientId, p.first), text)
      parts.push({ first: p.first, last: p.mutations.at(-1)!.seq, bytes: byteLength(text) })
      this.options.onProgress?.({ phase: 'upload', store: store.url, done: ++done, total: toWrite.length })
    }
    const latest = parts.at(-1)?.last ?? 0
    const updated = new Date().toISOString()
    const index: ClientIndex = { format: FORMAT, clientId: this.replica.clientId, label: l.label, latest, updated, parts, lastReceived: await this.log.mergedUpTo() }
    await store.write(indexPath, serialize(index))
    await this.writeMaster(store, master => {
      master.clients[this.replica.clientId] = { label: l.label, latest, updated }
      for (const url of peers) master.peers[url] ??= {}
      master.latestUpdate = this.replica.clientId
    })
    await this.log.setState(key, { latest, parts, peers } satisfies Uploaded)
    return fresh.length
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
  // a specifier in a variable: bundlers for the browser leave node:fs out
  const folderModule = './folder.js'
  const store = (import(folderModule) as Promise<typeof import('./folder.js')>).then(m => m.folderStore(path))
  return {
    url: `file://${path}`,
    list: async p => (await store).list(p),
    read: async p => (await store).read(p),
    write: async (p, d) => (await store).write(p, d),
    delete: async p => (await store).delete(p),
  }
}
