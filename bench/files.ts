import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Model, S, openDatabase } from '../dist/index.js'
import { encodeClock } from '../dist/core/hlc.js'
import { folderStore } from '../dist/files/folder.js'
import { clientFolder, clientIndexPath, FORMAT, masterPath, PART_BYTES, partPath, serialize, type ClientIndex, type MasterIndex } from '../dist/files/layout.js'
import type { LoggedMutation } from '../dist/core/mutation.js'
import { sqliteStorage } from '../dist/sqlite.js'

class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = { text: S.str, n: S.int }
  static override INDEXES = [['n']]
}

const CLIENTS = 10
const PER_CLIENT = 10_000

/** Writes ten clients' folders as their replicas would have: parts of about 500 KB, client indexes, a master index. */
async function writeFolders(dir: string): Promise<void> {
  const store = folderStore(dir)
  const master: MasterIndex = { format: FORMAT, db: 'bench', clients: {}, peers: {} }
  for (let c = 0; c < CLIENTS; c++) {
    const clientId = `client-${c}`
    const parts: ClientIndex['parts'] = []
    let part: LoggedMutation[] = []
    let bytes = 0
    const flush = async () => {
      const text = serialize({ format: FORMAT, clientId, first: part[0]!.seq, mutations: part })
      await store.write(partPath('bench', clientId, part[0]!.seq), text)
      parts.push({ first: part[0]!.seq, last: part.at(-1)!.seq, bytes: text.length })
      part = []
      bytes = 0
    }
    for (let i = 1; i <= PER_CLIENT; i++) {
      const id = `${c}-${i}`
      // mostly new documents, some edits of earlier ones: a merge does both
      const ops: LoggedMutation['ops'] = i % 4 === 0 ? [{ type: 'increment', collection: 'Note', id: `${c}-${i - 1}`, path: ['n'], by: 1 }] : [{ type: 'create', collection: 'Note', id, data: { id, text: `note ${i} of client ${c}`, n: i } }]
      const m: LoggedMutation = { seq: i, id: `${clientId}-${i}`, hlc: encodeClock({ wall: 1_700_000_000_000 + i * 10 + c, counter: 0 }), ops, time: 0 }
      part.push(m)
      bytes += JSON.stringify(m).length
      if (bytes > PART_BYTES) await flush()
    }
    if (part.length) await flush()
    const index: ClientIndex = { format: FORMAT, clientId, label: clientId, latest: PER_CLIENT, updated: new Date().toISOString(), parts, lastReceived: {} }
    await store.write(clientIndexPath('bench', clientId), serialize(index))
    master.clients[clientId] = { label: clientId, latest: PER_CLIENT, updated: index.updated }
  }
  await store.write(masterPath('bench'), serialize(master))
}

export interface FilesBench {
  mutationsPerSecond: number
  mutations: number
  bytesFirst: number
  bytesWhenNothingChanged: number
  indexBytes: number
}

/** A fresh SQLite replica merges 100,000 mutations from 10 clients' folders; then a sync with nothing new. */
export async function filesBench(): Promise<FilesBench> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-files-'))
  try {
    await writeFolders(join(dir, 'shared'))
    const db = await openDatabase({ name: 'bench', models: [Note], storage: sqliteStorage(join(dir, 'replica.db')), files: { stores: [folderStore(join(dir, 'shared'))], interval: 0 } })
    const t = performance.now()
    const first = await db.files.sync()
    const seconds = (performance.now() - t) / 1000
    const again = await db.files.sync()
    const store = folderStore(join(dir, 'shared'))
    let indexBytes = (await store.read(masterPath('bench')))!.length
    for (let c = 0; c < CLIENTS; c++) indexBytes += (await store.read(clientIndexPath('bench', `client-${c}`)))!.length
    await db.close()
    return { mutationsPerSecond: first.merged / seconds, mutations: first.merged, bytesFirst: first.bytesRead, bytesWhenNothingChanged: again.bytesRead, indexBytes }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export function printFilesBench(r: FilesBench): void {
  console.log('\nServerless sync through a folder (SQLite replica)\n')
  console.log(`| workload | tidepool | target |`)
  console.log(`|---|---|---|`)
  console.log(`| merge ${r.mutations} mutations from ${CLIENTS} clients' folders into a fresh replica | ${r.mutationsPerSecond.toFixed(0)} mutations/s (${(r.bytesFirst / 1024 / 1024).toFixed(1)} MiB read) | ≥ 100,000 mutations/s |`)
  console.log(`| bytes read by a sync when nothing changed | ${r.bytesWhenNothingChanged} B (the indexes: ${r.indexBytes} B) | only the indexes |`)
}

const NOTES = 500
const EDITS = 40

export interface CheckpointBench {
  mutations: number
  /** A new device joining: with the writer's checkpoint, and with the same history as parts (a stale listed client holds checkpoints back). */
  joined: { checkpoint: { ms: number; bytes: number }; parts: { ms: number; bytes: number } }
  /** The writer's folder, both ways. */
  folder: { checkpoint: number; parts: number }
}

async function folderBytes(dir: string, clientId: string): Promise<number> {
  const store = folderStore(dir)
  let n = 0
  for (const p of await store.list(clientFolder('bench', clientId))) n += (await store.read(p))!.length
  return n
}

/** One client edits 500 notes 40 times each (20,001 mutations), syncing as it goes; then a new device joins. */
async function history(dir: string, heldBack: boolean): Promise<{ ms: number; bytes: number; folder: number; mutations: number }> {
  const shared = join(dir, heldBack ? 'held' : 'free')
  if (heldBack) {
    // a client listed in the store that read nothing and never syncs again
    const stale: ClientIndex = { format: FORMAT, clientId: 'gone', label: 'gone', latest: 0, updated: new Date().toISOString(), parts: [], lastReceived: {} }
    await folderStore(shared).write(clientIndexPath('bench', 'gone'), serialize(stale))
  }
  const writer = await openDatabase({ name: 'bench', models: [Note], files: { stores: [folderStore(shared)], interval: 0, onWarning: () => undefined } })
  await writer.run(tx => {
    for (let i = 0; i < NOTES; i++) tx.create(Note, { id: `n${i}`, text: 'new', n: 0 })
  })
  for (let e = 0; e < EDITS; e++) {
    for (let i = 0; i < NOTES; i++) await writer.run(async tx => void ((await tx.get(Note, `n${i}`))!.text = `edit ${e} of note ${i}, written for the benchmark`))
    await writer.files.sync()
  }
  const folder = await folderBytes(shared, writer.clientId)
  await writer.close()
  const device = await openDatabase({ name: 'bench', models: [Note], storage: sqliteStorage(join(dir, `${heldBack ? 'held' : 'free'}.db`)), files: { stores: [folderStore(shared)], interval: 0, onWarning: () => undefined } })
  const t = performance.now()
  const report = await device.files.sync()
  const ms = performance.now() - t
  await device.close()
  return { ms, bytes: report.bytesRead, folder, mutations: 1 + NOTES * EDITS }
}

export async function checkpointBench(): Promise<CheckpointBench> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-checkpoint-'))
  try {
    // the one measured second has the warmer JIT: alternate, and take each one's better time
    const held = await history(dir, true)
    const free = await history(dir, false)
    const again = await history(join(dir, 'again'), true)
    held.ms = Math.min(held.ms, again.ms)
    return { mutations: free.mutations, joined: { checkpoint: { ms: free.ms, bytes: free.bytes }, parts: { ms: held.ms, bytes: held.bytes } }, folder: { checkpoint: free.folder, parts: held.folder } }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export function printCheckpointBench(r: CheckpointBench): void {
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MiB`
  console.log(`\nFile-sync checkpoints: one client edits ${NOTES} notes ${EDITS} times each (${r.mutations} mutations), then a new device joins\n`)
  console.log(`| | with checkpoints | history as parts (a stale client holds them back) | ratio |`)
  console.log(`|---|---|---|---|`)
  console.log(`| the writer's folder | ${mib(r.folder.checkpoint)} | ${mib(r.folder.parts)} | ${(r.folder.parts / r.folder.checkpoint).toFixed(1)}× smaller |`)
  console.log(`| a new device's first sync, bytes read | ${mib(r.joined.checkpoint.bytes)} | ${mib(r.joined.parts.bytes)} | ${(r.joined.parts.bytes / r.joined.checkpoint.bytes).toFixed(1)}× fewer |`)
  console.log(`| a new device's first sync, time | ${r.joined.checkpoint.ms.toFixed(0)} ms | ${r.joined.parts.ms.toFixed(0)} ms | ${(r.joined.parts.ms / r.joined.checkpoint.ms).toFixed(1)}× faster |`)
}
