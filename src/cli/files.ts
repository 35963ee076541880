import { Option, type Command } from 'commander'
import { resolve } from 'node:path'
import { CorruptFileError, InvalidOptionsError } from '../core/errors.js'
import { openDatabase } from '../database/open.js'
import { folderStore } from '../files/folder.js'
import { clientIndexPath, clientsForgotten, clientsListed, masterPath, parseClientIndex, parseMaster, parsePart, partPath, type ClientIndex } from '../files/layout.js'
import type { FileStore } from '../files/store.js'
import { forgetClient } from '../files/transfer.js'
import { webdavStore } from '../files/webdav.js'
import { progress } from './progress.js'
import { integer } from './values.js'

interface Where {
  user?: string
  password?: string
}

export function filesCommand(program: Command): void {
  const files = program.command('files').description('inspect and sync serverless sync folders (a shared folder or a WebDAV store)')
  const credentials = (c: Command) =>
    c
      .addOption(new Option('--user <name>', 'WebDAV user').env('TIDEPOOL_WEBDAV_USER'))
      .addOption(new Option('--password <secret>', 'WebDAV password').env('TIDEPOOL_WEBDAV_PASSWORD'))
  credentials(
    files
      .command('inspect')
      .description('the databases, clients, checkpoints, parts, sizes and latest sequence numbers there, and any corrupt file')
      .argument('<where>', 'a folder, or a WebDAV URL')
      .option('--db <name>', 'only this database'),
  ).action((where: string, flags: Where & { db?: string }) => inspect(storeAt(where, flags), flags.db))
  credentials(
    files
      .command('sync')
      .description('sync a replica of a database through it (a relay or backup client)')
      .argument('<where>', 'a folder, or a WebDAV URL')
      .requiredOption('--db <name>', 'the database')
      .option('--replica <file>', 'the SQLite file of the replica (default ./tidepool-files-<db>.db)')
      .option('--label <label>', "this client's label", 'files-cli')
      .option('--watch <ms>', 'go on syncing this often', integer(100)),
  ).action((where: string, flags: Where & { db: string; replica?: string; label: string; watch?: number }) => sync(storeAt(where, flags), flags))
  credentials(
    files
      .command('forget')
      .description("stop waiting for a client that will not sync again: it no longer holds the others' checkpoints back; its data stays")
      .argument('<where>', 'a folder, or a WebDAV URL')
      .requiredOption('--db <name>', 'the database')
      .requiredOption('--client <id>', "the client's id, as inspect lists it"),
  ).action(async (where: string, flags: Where & { db: string; client: string }) => {
    await forgetClient(flags.db, storeAt(where, flags), flags.client)
    console.log(`Forgot client ${flags.client} of ${flags.db}: it no longer holds the others' checkpoints back. Its mutations stay readable; if it syncs again, it is listed again.`)
  })
}

function storeAt(where: string, { user, password }: Where): FileStore {
  if (/^https?:\/\//.test(where)) return webdavStore(where, { username: user, password })
  return folderStore(resolve(where))
}

/** The databases a store holds. */
function databasesIn(paths: string[]): string[] {
  return [...new Set(paths.map(p => /^tidepool-([^/]+)\//.exec(p)?.[1]).filter((d): d is string => d !== undefined))].map(decodeURIComponent).sort()
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`

async function inspect(store: FileStore, only?: string): Promise<void> {
  const all = await store.list('')
  const dbs = databasesIn(all).filter(d => !only || d === only)
  if (dbs.length === 0) return void console.log(`No Tidepool databases at ${store.url}${only ? ` named ${only}` : ''}.`)
  for (const db of dbs) {
    console.log(`Database ${db} (${new URL(masterPath(db), store.url.endsWith('/') ? store.url : `${store.url}/`).href})`)
    const masterText = await store.read(masterPath(db))
    let master
    try {
      master = masterText === undefined ? undefined : parseMaster(masterPath(db), masterText)
      if (!master) console.log('  master index: missing (clients found by listing)')
    } catch (e) {
      console.log(`  master index: CORRUPT: ${(e as Error).message}`)
    }
    for (const url of Object.keys(master?.peers ?? {})) console.log(`  peer: ${url}`)
    for (const id of clientsForgotten(db, all)) console.log(`  forgotten: client ${id} (it holds no checkpoint back until it syncs again)`)
    const clients = [...new Set([...Object.keys(master?.clients ?? {}), ...clientsListed(db, all)])].sort()
    for (const id of clients) {
      const path = clientIndexPath(db, id)
      const text = await store.read(path)
      if (text === undefined) {
        console.log(`  client ${id}: named in the master index, no client index yet`)
        continue
      }
      try {
        const index = parseClientIndex(path, text)
        const cp = index.checkpoint
        const cpBytes = (cp?.files ?? []).reduce((n, b) => n + b, 0)
        const bytes = index.parts.reduce((n, p) => n + p.bytes, 0) + cpBytes
        console.log(`  client ${id} "${index.label}": latest ${index.latest}, ${index.parts.length} part(s), ${kib(bytes)}, updated ${index.updated}`)
        if (cp) console.log(`    checkpoint: mutations 1–${cp.last} compacted, ${cp.files.length} file(s), ${kib(cpBytes)}`)
        for (const p of index.parts) console.log(`    part-${p.first}: mutations ${p.first}–${p.last}, ${kib(p.bytes)}${await partTrouble(store, db, id, p)}`)
      } catch (e) {
        if (!(e instanceof CorruptFileError)) throw e
        console.log(`  client ${id}: CORRUPT: ${e.message}`)
      }
    }
  }
}

/** What is wrong with a part file the index names, if anything: missing, or unreadable. (Its size may differ: the open part grows in place before its index follows.) */
async function partTrouble(store: FileStore, db: string, clientId: string, part: ClientIndex['parts'][number]): Promise<string> {
  const path = partPath(db, clientId, part.first)
  const text = await store.read(path)
  if (text === undefined) return ': MISSING'
  try {
    parsePart(path, text)
    return ''
  } catch (e) {
    if (!(e instanceof CorruptFileError)) throw e
    return `: CORRUPT: ${e.message}`
  }
}

async function sync(store: FileStore, values: { db: string; replica?: string; label: string; watch?: number }): Promise<void> {
  const found = databasesIn(await store.list(''))
  if (!found.includes(values.db)) {
    throw new InvalidOptionsError('--db', `there is no database ${values.db} at ${store.url}: ${found.length ? `it holds ${found.join(', ')}` : 'it holds none'}`)
  }
  // loaded here: `files inspect` works without better-sqlite3
  const { sqliteStorage } = await import('../sqlite.js')
  // each round shows its own progress: made when it starts, stopped when it ends
  let shown: ReturnType<typeof progress> | undefined
  const db = await openDatabase({
    name: values.db,
    models: [],
    storage: sqliteStorage(values.replica ?? `./tidepool-files-${values.db}.db`),
    files: { stores: [store], label: values.label, interval: 0, onProgress: p => shown?.step(p), onWarning: w => console.warn(`warning: ${w}`) },
  })
  const once = async () => {
    shown = progress('parts')
    const r = await db.files.sync().finally(() => shown?.stop())
    console.log(`merged ${r.merged}, uploaded ${r.uploaded}, read ${kib(r.bytesRead)}, wrote ${kib(r.bytesWritten)}${r.skipped.length ? `, skipped ${r.skipped.length} unreadable file(s)` : ''}`)
  }
  await once()
  if (!values.watch) return db.close()
  const timer = setInterval(() => void once().catch(e => console.error(`sync failed: ${(e as Error).message}`)), values.watch)
  const stop = () => {
    clearInterval(timer)
    void db.close().then(() => process.exit(0))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}
