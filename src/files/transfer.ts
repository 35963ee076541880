import { CorruptFileError } from '../core/errors.js'
import { MAX_DRIFT } from '../core/hlc.js'
import type { LoggedMutation } from '../core/mutation.js'
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
import type { MergeLog } from './merge-log.js'
import { byteLength, type CountingStore, type FileStore } from './store.js'

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

/** One linked store. */
export interface Linked {
  store: CountingStore
  label: string
  /** A peer: another user's store, read only. */
  peer: boolean
}

/** What was written to one store: its parts and the last sequence number in them. */
export interface Uploaded {
  latest: number
  parts: Array<{ first: number; last: number; bytes: number }>
  /** The peers the master index was last written with. */
  peers?: string[]
}

/** Where the merge log keeps what was uploaded to a store. */
export function uploadedKey(store: FileStore): string {
  return `uploaded/${store.url}`
}

/** What a transfer needs of the sync it serves. */
export interface TransferContext {
  db: string
  clientId: string
  log: MergeLog
  warn(message: string): void
  onProgress?: (p: FileSyncProgress) => void
  /** A peer named in a master index: linked, to be read from now on. */
  addPeer(url: string): Promise<void>
}

/** Reads a file that may be missing or corrupt; skipped files are reported, never fatal. */
async function readParsed<T>(ctx: TransferContext, store: FileStore, path: string, parse: (path: string, text: string) => T, report: FileSyncReport): Promise<T | undefined> {
  const text = await store.read(path)
  if (text === undefined) return undefined
  try {
    return parse(path, text)
  } catch (e) {
    if (!(e instanceof CorruptFileError)) throw e
    report.skipped.push(`${store.url}${path}`)
    ctx.warn(`skipped ${e.message}`)
    return undefined
  }
}

/** Reads the other clients' new parts in one store and merges them, client by client, contiguous from what was merged. */
export async function download(ctx: TransferContext, l: Linked, report: FileSyncReport): Promise<void> {
  const { store } = l
  const master = await readParsed(ctx, store, masterPath(ctx.db), parseMaster, report)
  if (master && !l.peer) for (const url of Object.keys(master.peers)) await ctx.addPeer(url).catch(e => ctx.warn(`peer ${url}: ${(e as Error).message}`))
  const listed = clientsListed(ctx.db, await store.list(dbFolder(ctx.db)))
  const clients = [...new Set([...Object.keys(master?.clients ?? {}), ...listed])].filter(id => id !== ctx.clientId).sort()
  const merged = await ctx.log.mergedUpTo()
  const wanted: Array<{ clientId: string; index: ClientIndex; from: number }> = []
  for (const clientId of clients) {
    const index = await readParsed(ctx, store, clientIndexPath(ctx.db, clientId), parseClientIndex, report)
    const from = merged[clientId] ?? 0
    if (index && index.latest > from) wanted.push({ clientId, index, from })
  }
  const total = wanted.reduce((n, w) => n + w.index.parts.filter(p => p.last > w.from).length, 0)
  let done = 0
  for (const { clientId, index, from } of wanted) {
    const mutations: LoggedMutation[] = []
    let next = from + 1
    for (const p of index.parts.filter(p => p.last > from).sort((a, b) => a.first - b.first)) {
      const part = await readParsed(ctx, store, partPath(ctx.db, clientId, p.first), parsePart, report)
      ctx.onProgress?.({ phase: 'download', store: store.url, done: ++done, total })
      // a missing or half-synced part: take what comes before it, and read it again next time
      if (!part || part.clientId !== clientId || part.first > next) break
      for (const m of part.mutations) {
        if (m.seq !== next || m.seq > index.latest) continue
        mutations.push(m)
        next++
      }
    }
    if (!mutations.length) continue
    const result = await ctx.log.merge({ remote: [{ clientId, mutations }] })
    report.merged += result.merged
    for (const c of result.clamped) {
      if (!report.clamped.includes(c)) report.clamped.push(c)
      ctx.warn(`client ${c}'s clock runs more than ${MAX_DRIFT / 60_000} minutes ahead of this machine's; its changes win over newer ones until the clocks agree`)
    }
  }
}

/**
 * Updates the master index, last. Where the store has conditional writes,
 * a concurrent writer makes this one read again and retry; elsewhere a lost
 * race hides nobody, since readers also list the client folders.
 */
async function writeMaster(db: string, store: CountingStore, update: (m: MasterIndex) => void): Promise<void> {
  const path = masterPath(db)
  const fresh = (): MasterIndex => ({ format: FORMAT, db, clients: {}, peers: {} })
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

/** Writes this client's mutations that the store lacks: parts, then the client index, then the master index. Returns how many. */
export async function upload(ctx: TransferContext, l: Linked): Promise<number> {
  const { store } = l
  const { db, clientId, log } = ctx
  const key = uploadedKey(store)
  const state = (await log.state<Uploaded>(key)) ?? { latest: 0, parts: [] }
  const fresh = await log.ownMutations(state.latest)
  const peers = (await log.state<string[]>('peers')) ?? []
  // nothing new to say: a sync that found nothing new reads only the indexes and writes nothing
  if (fresh.length === 0 && (state.peers ?? []).join() === peers.join()) return 0
  // the newest part is rewritten with the new mutations until it is full
  const parts = [...state.parts]
  const open = parts.at(-1)
  let current: LoggedMutation[] = open && open.bytes < PART_BYTES ? (await log.ownMutations(open.first - 1)).filter(m => m.seq <= open.last) : []
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
    const text = serialize({ format: FORMAT, clientId, first: p.first, mutations: p.mutations })
    await store.write(partPath(db, clientId, p.first), text)
    parts.push({ first: p.first, last: p.mutations.at(-1)!.seq, bytes: byteLength(text) })
    ctx.onProgress?.({ phase: 'upload', store: store.url, done: ++done, total: toWrite.length })
  }
  const latest = parts.at(-1)?.last ?? 0
  const updated = new Date().toISOString()
  const index: ClientIndex = { format: FORMAT, clientId, label: l.label, latest, updated, parts, lastReceived: await log.mergedUpTo() }
  await store.write(clientIndexPath(db, clientId), serialize(index))
  await writeMaster(db, store, master => {
    master.clients[clientId] = { label: l.label, latest, updated }
    for (const url of peers) master.peers[url] ??= {}
    master.latestUpdate = clientId
  })
  await log.setState(key, { latest, parts, peers } satisfies Uploaded)
  return fresh.length
}
