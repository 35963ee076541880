import { CorruptFileError, InvalidParameterError } from '../core/errors.js'
import { MAX_DRIFT } from '../core/hlc.js'
import type { LoggedMutation } from '../core/mutation.js'
import {
  checkpointPath,
  clientFolder,
  clientIndexPath,
  clientsForgotten,
  clientsListed,
  dbFolder,
  CHECKPOINT_FORMAT,
  FORMAT,
  forgottenPath,
  masterPath,
  parseCheckpoint,
  parseClientIndex,
  parseMaster,
  parsePart,
  partPath,
  serialize,
  type Checkpoint,
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

/** Progress of a long download or upload, as `FileSyncOptions.onProgress` hears it. */
export interface FileSyncProgress {
  phase: 'download' | 'upload'
  /** The store's URL. */
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
  /** How far every other client in the store had read this one's mutations, at the last download. */
  readPast?: number
}

/** What was written to one store: its parts and the last sequence number in them. */
export interface Uploaded {
  latest: number
  parts: Array<{ first: number; last: number; bytes: number }>
  /** The checkpoint before the parts. */
  checkpoint?: ClientIndex['checkpoint']
  /** The peers the master index was last written with. */
  peers?: string[]
  /** What the client index said was merged of the others. */
  received?: Record<string, number>
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
  /** Where a part closes and the next starts (layout.ts PART_BYTES by default). */
  partBytes: number
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
  const paths = await store.list(dbFolder(ctx.db))
  const listed = clientsListed(ctx.db, paths)
  const forgotten = clientsForgotten(ctx.db, paths)
  // forgotten while away: back now, so listed again
  if (forgotten.has(ctx.clientId) && !l.peer) await store.delete(forgottenPath(ctx.db, ctx.clientId))
  const clients = [...new Set([...Object.keys(master?.clients ?? {}), ...listed])].filter(id => id !== ctx.clientId).sort()
  const merged = await ctx.log.mergedUpTo()
  const wanted: Array<{ clientId: string; index: ClientIndex; from: number }> = []
  let readPast = Infinity
  for (const clientId of clients) {
    const index = await readParsed(ctx, store, clientIndexPath(ctx.db, clientId), parseClientIndex, report)
    if (!forgotten.has(clientId)) readPast = Math.min(readPast, index?.lastReceived[ctx.clientId] ?? 0)
    const from = merged[clientId] ?? 0
    if (index && index.latest > from) wanted.push({ clientId, index, from })
  }
  l.readPast = readPast
  const total = wanted.reduce((n, w) => n + w.index.parts.filter(p => p.last > w.from).length + (w.index.checkpoint && w.index.checkpoint.last > w.from ? w.index.checkpoint.files.length : 0), 0)
  let done = 0
  const progressed = () => ctx.onProgress?.({ phase: 'download', store: store.url, done: ++done, total })
  for (const { clientId, index, from } of wanted) {
    let next = from + 1
    // a reader further behind than the parts start reads the checkpoint of what came before them
    if (index.checkpoint && index.checkpoint.last >= next) {
      const checkpoint = await readCheckpoint(ctx, store, clientId, index.checkpoint, report, progressed)
      if (!checkpoint) continue
      counted(ctx, report, await ctx.log.mergeCheckpoint(clientId, checkpoint))
      next = checkpoint.last + 1
    }
    const mutations: LoggedMutation[] = []
    for (const p of index.parts.filter(p => p.last >= next).sort((a, b) => a.first - b.first)) {
      const part = await readParsed(ctx, store, partPath(ctx.db, clientId, p.first), parsePart, report)
      progressed()
      // a missing or half-synced part: take what comes before it, and read it again next time
      if (!part || part.clientId !== clientId || part.first > next) break
      for (const m of part.mutations) {
        if (m.seq !== next || m.seq > index.latest) continue
        mutations.push(m)
        next++
      }
    }
    if (mutations.length) counted(ctx, report, await ctx.log.merge({ remote: [{ clientId, mutations }] }))
  }
}

function counted(ctx: TransferContext, report: FileSyncReport, result: { merged: number; clamped: string[] }): void {
  report.merged += result.merged
  for (const c of result.clamped) {
    if (!report.clamped.includes(c)) report.clamped.push(c)
    ctx.warn(`client ${c}'s clock runs more than ${MAX_DRIFT / 60_000} minutes ahead of this machine's; its changes win over newer ones until the clocks agree`)
  }
}

/**
 * All files of a client's checkpoint, or undefined when one is missing,
 * half-synced, or not the file the index names (the checkpoint was
 * rewritten since): it is read again next time.
 */
async function readCheckpoint(
  ctx: TransferContext,
  store: FileStore,
  clientId: string,
  entry: NonNullable<ClientIndex['checkpoint']>,
  report: FileSyncReport,
  progressed: () => void,
): Promise<Checkpoint | undefined> {
  const docs: Checkpoint['docs'] = []
  let hlc = ''
  for (const [n, bytes] of entry.files.entries()) {
    const path = checkpointPath(ctx.db, clientId, entry.last, n)
    const file = await readParsed(ctx, store, path, (p, text) => {
      if (byteLength(text) !== bytes) throw new CorruptFileError(p, `${byteLength(text)} bytes where the client index says ${bytes} (half-synced, or rewritten since)`)
      return parseCheckpoint(p, text)
    }, report)
    progressed()
    if (!file || file.clientId !== clientId || file.last !== entry.last || file.of !== entry.files.length) return undefined
    docs.push(...file.docs)
    hlc = file.hlc
  }
  return { last: entry.last, hlc, docs }
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

/**
 * Where this client's next checkpoint in a store ends, if it should write
 * one now: after the newest closed part that every other client there has
 * read past, once the parts it replaces weigh at least two parts and the
 * checkpoint before (so rewriting checkpoints costs a constant factor of
 * what is written). A store that lacks mutations the own log has folded
 * away (one linked later) gets a checkpoint of those at once.
 */
function checkpointAt(state: Uploaded, folded: number, readPast: number, partBytes: number): number | undefined {
  const done = state.checkpoint?.last ?? 0
  const closed = state.parts.filter((p, i) => i < state.parts.length - 1 || p.bytes >= partBytes)
  const replaced = closed.filter(p => p.last > done && p.last <= readPast)
  const at = replaced.at(-1)?.last
  if (done < folded) return Math.max(folded, at ?? 0)
  if (at === undefined) return undefined
  const freed = replaced.reduce((n, p) => n + p.bytes, 0)
  const before = (state.checkpoint?.files ?? []).reduce((n, b) => n + b, 0)
  return freed >= Math.max(2 * partBytes, before) ? at : undefined
}

/**
 * Items in order, in groups of about `limit` bytes of JSON (an item is
 * never split, so one larger than that is a group alone); the first group
 * starts with `start`: the open part being filled.
 */
function groupsOf<T>(items: readonly T[], limit: number, start: T[] = []): T[][] {
  const groups: T[][] = []
  let current = start
  let size = start.length ? byteLength(JSON.stringify(start)) : 0
  for (const item of items) {
    const bytes = byteLength(JSON.stringify(item))
    if (current.length && size + bytes > limit) {
      groups.push(current)
      current = []
      size = 0
    }
    current.push(item)
    size += bytes
  }
  if (current.length) groups.push(current)
  return groups
}

/** Writes a checkpoint's files, documents in order, about a part's size each; returns their sizes. */
async function writeCheckpoint(ctx: TransferContext, store: CountingStore, checkpoint: Checkpoint): Promise<number[]> {
  // a checkpoint of nothing is still one file: its index entry names at least one
  const files = groupsOf(checkpoint.docs, ctx.partBytes)
  if (files.length === 0) files.push([])
  const sizes: number[] = []
  for (const [n, docs] of files.entries()) {
    const text = serialize({ format: CHECKPOINT_FORMAT, clientId: ctx.clientId, last: checkpoint.last, hlc: checkpoint.hlc, of: files.length, docs })
    await store.write(checkpointPath(ctx.db, ctx.clientId, checkpoint.last, n), text)
    sizes.push(byteLength(text))
  }
  return sizes
}

/**
 * Writes this client's mutations that the store lacks: a checkpoint when
 * one is due, parts, then the client index, then the master index; last,
 * deletes what the index no longer names. Returns how many mutations.
 */
export async function upload(ctx: TransferContext, l: Linked): Promise<number> {
  const { store } = l
  const { db, clientId, log, partBytes } = ctx
  const key = uploadedKey(store)
  const state = (await log.state<Uploaded>(key)) ?? { latest: 0, parts: [] }
  const peers = (await log.state<string[]>('peers')) ?? []
  const received = await log.mergedUpTo()
  let parts = [...state.parts]
  let checkpoint = state.checkpoint
  const at = checkpointAt(state, await log.ownFolded(), l.readPast ?? 0, partBytes)
  if (at !== undefined) {
    checkpoint = { last: at, files: await writeCheckpoint(ctx, store, await log.ownCheckpoint(at)) }
    parts = parts.filter(p => p.first > at)
    // a checkpoint inside a part (the own log was folded there): the parts after it are written again
    if (parts[0] && parts[0].first !== at + 1) parts = []
  }
  const fresh = await log.ownMutations(parts.at(-1)?.last ?? checkpoint?.last ?? 0)
  const peersChanged = (state.peers ?? []).join() !== peers.join()
  // what this client has read decides when the others may checkpoint, so a reader says so
  const readMore = state.latest > 0 && JSON.stringify(state.received ?? {}) !== JSON.stringify(received)
  // nothing new to say: a sync that found nothing new reads only the indexes and writes nothing
  if (at === undefined && fresh.length === 0 && !peersChanged && !readMore) return 0
  // the newest part is rewritten with the new mutations until it is full
  const open = parts.at(-1)
  const current: LoggedMutation[] = open && open.bytes < partBytes && fresh.length ? (await log.ownMutations(open.first - 1)).filter(m => m.seq <= open.last) : []
  if (current.length) parts.pop()
  const toWrite = (fresh.length ? groupsOf(fresh, partBytes, current) : []).map(mutations => ({ first: mutations[0]!.seq, mutations }))
  let done = 0
  for (const p of toWrite) {
    const text = serialize({ format: FORMAT, clientId, first: p.first, mutations: p.mutations })
    await store.write(partPath(db, clientId, p.first), text)
    parts.push({ first: p.first, last: p.mutations.at(-1)!.seq, bytes: byteLength(text) })
    ctx.onProgress?.({ phase: 'upload', store: store.url, done: ++done, total: toWrite.length })
  }
  const latest = parts.at(-1)?.last ?? checkpoint?.last ?? 0
  const updated = new Date().toISOString()
  const index: ClientIndex = { format: checkpoint ? CHECKPOINT_FORMAT : FORMAT, clientId, label: l.label, latest, updated, parts, ...(checkpoint ? { checkpoint } : {}), lastReceived: received }
  await store.write(clientIndexPath(db, clientId), serialize(index))
  if (latest !== state.latest || peersChanged) {
    await writeMaster(db, store, master => {
      master.clients[clientId] = { label: l.label, latest, updated }
      for (const url of peers) master.peers[url] ??= {}
      master.latestUpdate = clientId
    })
  }
  // recorded before the sweep: a crash between them leaves files nobody names, never an index naming deleted ones
  await log.setState(key, { latest, parts, checkpoint, peers, received } satisfies Uploaded)
  if (at !== undefined) await sweep(ctx, store, index)
  return fresh.length
}

/**
 * Forgets a client that will not sync again (a lost device): it no longer
 * holds back the checkpoints of the others, who waited for it to read past
 * their parts. Nothing of it is deleted: its mutations stay readable.
 */
export async function forgetClient(db: string, store: FileStore, clientId: string): Promise<void> {
  const known = clientsListed(db, await store.list(dbFolder(db)))
  const master = await store.read(masterPath(db))
  if (!known.includes(clientId) && !(master && parseMaster(masterPath(db), master).clients[clientId])) {
    throw new InvalidParameterError('client', `no client ${clientId} in database ${db} at ${store.url} (tidepool files inspect lists them)`)
  }
  await store.write(forgottenPath(db, clientId), JSON.stringify({ format: FORMAT, clientId, at: new Date().toISOString() }))
}

/**
 * Deletes this client's parts and checkpoint files that its index no longer
 * names: those a checkpoint replaced, and any a crash left behind. A reader
 * still on the old index finds them gone and reads the new one next time.
 */
async function sweep(ctx: TransferContext, store: CountingStore, index: ClientIndex): Promise<void> {
  const named = new Set([
    ...index.parts.map(p => partPath(ctx.db, ctx.clientId, p.first)),
    ...(index.checkpoint?.files ?? []).map((_, n) => checkpointPath(ctx.db, ctx.clientId, index.checkpoint!.last, n)),
  ])
  for (const path of await store.list(clientFolder(ctx.db, ctx.clientId))) {
    if (/\/(part|checkpoint)-[^/]*\.json$/.test(path) && !named.has(path)) await store.delete(path).catch(e => ctx.warn(`could not delete ${path}: ${(e as Error).message}`))
  }
}
