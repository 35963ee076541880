import type { Command } from 'commander'
import { Option } from 'commander'
import { createReadStream } from 'node:fs'
import { basename, extname, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { InvalidOptionsError } from '../core/errors.js'
import type { Database } from '../database/database.js'
import { metaOf } from '../orm/meta.js'
import type { DataInput, ModelClass } from '../orm/types.js'
import { loadModels } from './models.js'
import { progress, type Step } from './progress.js'
import { existingFile, httpUrl, integer } from './values.js'

interface ImportFlags {
  into: string
  models: string
  collection: string
  batch: number
  sync?: string
  token?: string
}

export function importCommand(program: Command): void {
  program
    .command('import')
    .description('import documents from a JSON Lines file (one document per line) into a SQLite replica, and push them to a server with --sync')
    .argument('<file>', 'a JSON Lines file: each line one document of the collection, as the model takes it', existingFile)
    .requiredOption('--into <replica.db>', 'the SQLite replica to import into (made when missing)')
    .requiredOption('--models <file>', "a module exporting the app's models (and its schemaVersion)", existingFile)
    .requiredOption('--collection <name>', "the documents' collection (a model's COLLECTION)")
    .option('--batch <n>', 'documents per transaction', integer(1, 100_000), 1000)
    .option('--sync <url>', 'a Tidepool server: sync the replica with it first, then push what was imported', httpUrl)
    .addOption(new Option('--token <jwt>', 'the sync token, for a server with auth').env('TIDEPOOL_TOKEN'))
    .action((file: string, flags: ImportFlags) => importFile(file, flags))
}

/** Lines that hold something: blank lines are skipped, and do not count. */
async function* documentLines(file: string): AsyncGenerator<{ n: number; text: string }> {
  let n = 0
  for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    n++
    if (text.trim()) yield { n, text }
  }
}

async function importFile(file: string, flags: ImportFlags): Promise<void> {
  const { models, schemaVersion } = await loadModels(flags.models)
  const model = models.find(m => metaOf(m).collection === flags.collection)
  if (!model) throw new InvalidOptionsError('--collection', `${flags.models} has no model of collection ${flags.collection}: it has ${models.map(m => metaOf(m).collection).join(', ')}`)
  // counted first, so that the progress says "x of y"
  let total = 0
  for await (const _ of documentLines(file)) total++
  const shown = progress('documents')
  // loaded here: the rest of the command line works without better-sqlite3
  const [{ openDatabase }, { sqliteStorage }] = await Promise.all([import('../database/open.js'), import('../sqlite.js')])
  const db: Database = await openDatabase({
    name: basename(flags.into, extname(flags.into)),
    models,
    ...(schemaVersion !== undefined ? { schemaVersion } : {}),
    storage: sqliteStorage(flags.into),
    // index builds (models with new indexes over stored documents) and a first sync's pages
    onProgress: p => shown.step(p.phase === 'index' ? { phase: `index ${p.collection} ${p.index}`, done: p.done, total: p.total } : p),
    ...(flags.sync ? { sync: { url: flags.sync, pollInterval: 0, ...(flags.token ? { token: () => flags.token! } : {}) } } : {}),
  })
  try {
    if (db.sync) await syncOnce(db, 'a first sync')
    const imported = await importLines(db, model, file, flags.batch, total, shown.step)
    shown.step({ phase: 'import', done: imported, total })
    if (db.sync) await push(db, shown.step)
    shown.stop()
    const pending = db.sync ? db.sync.status.pending : (await db.pendingMutations()).length
    console.log(`imported ${imported} ${flags.collection} document(s) into ${resolve(flags.into)}${db.sync ? `, pushed to ${flags.sync}` : `; ${pending} mutation(s) wait in its outbox for a server`}`)
  } finally {
    shown.stop()
    await db.close()
  }
}

/** One transaction per batch; a bad line stops the import there, with the batches before it kept (a rerun overwrites, so it is safe). */
async function importLines(db: Database, model: ModelClass, file: string, batch: number, total: number, step: (s: Step) => void): Promise<number> {
  let done = 0
  let pending: Array<{ n: number; data: DataInput<ModelClass> }> = []
  const stopped = (why: string) => new Error(`${file} ${why} (imported ${done} document(s) before it; a rerun overwrites them)`)
  const flush = async () => {
    let at = 0
    try {
      await db.run(tx => {
        for (const { n, data } of pending) {
          at = n
          tx.createOrOverwrite(model, data)
        }
      })
    } catch (e) {
      throw stopped(`line ${at}: ${(e as Error).message}`)
    }
    done += pending.length
    pending = []
    step({ phase: 'import', done, total })
  }
  step({ phase: 'import', done, total })
  for await (const { n, text } of documentLines(file)) {
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch (e) {
      throw stopped(`line ${n} is not JSON: ${(e as Error).message}`)
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw stopped(`line ${n} is not a JSON object`)
    pending.push({ n, data: data as DataInput<ModelClass> })
    if (pending.length >= batch) await flush()
  }
  if (pending.length) await flush()
  return done
}

async function syncOnce(db: Database, what: string): Promise<void> {
  await db.sync!.syncNow()
  const { phase, lastError } = db.sync!.status
  if (phase === 'error' || phase === 'offline') throw new Error(`${what} with the server failed: ${lastError ?? phase}`)
}

/** Pushes the outbox, round after round, showing what is left. */
async function push(db: Database, step: (s: Step) => void): Promise<void> {
  const sync = db.sync!
  const total = sync.status.pending
  // sync pushes as commits come: all of it may be gone already
  if (total === 0) return
  const stop = sync.subscribe(s => step({ phase: 'push', done: total - s.pending, total, unit: 'mutations' }))
  try {
    while (sync.status.pending > 0) {
      const before = sync.status.pending
      await syncOnce(db, 'pushing')
      if (sync.status.pending >= before) throw new Error(`the server took none of the last round's mutations: ${sync.status.pending} wait in the outbox of the replica (they are pushed by the next sync)`)
    }
  } finally {
    stop()
  }
}
