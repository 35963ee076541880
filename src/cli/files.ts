import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { CorruptFileError, InvalidOptionsError } from '../core/errors.js'
import { openDatabase } from '../database/open.js'
import { folderStore } from '../files/folder.js'
import { clientIndexPath, clientsForgotten, clientsListed, masterPath, parseClientIndex, parseMaster } from '../files/layout.js'
import type { FileStore } from '../files/store.js'
import { forgetClient } from '../files/transfer.js'
import { webdavStore } from '../files/webdav.js'

export const FILES_USAGE = `Usage: tidepool files <command> <folder or WebDAV URL> [options]

  inspect <where>   the databases, clients, parts, sizes and latest sequence numbers there
  sync <where>      sync a replica of the database through it (a backup or relay client)
  forget <where>    stop waiting for a client that will not sync again (--db, --client):
                    it no longer holds the others' checkpoints back; its data stays

Options:
  --db <name>        the database (inspect: all of them by default; sync, forget: required)
  --client <id>      forget: the client's id, as inspect lists it
  --replica <file>   sync: the SQLite file of the replica (default ./tidepool-files-<db>.db)
  --label <label>    sync: this client's label (default: files-cli)
  --watch <ms>       sync: go on syncing this often
  --user, --password WebDAV credentials (or TIDEPOOL_WEBDAV_USER / TIDEPOOL_WEBDAV_PASSWORD)
`

function storeAt(where: string, user?: string, password?: string): FileStore {
  if (/^https?:\/\//.test(where)) return webdavStore(where, { username: user ?? process.env.TIDEPOOL_WEBDAV_USER, password: password ?? process.env.TIDEPOOL_WEBDAV_PASSWORD })
  return folderStore(resolve(where))
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`

async function inspect(store: FileStore, only?: string): Promise<void> {
  const all = await store.list('')
  const dbs = [...new Set(all.map(p => /^tidepool-([^/]+)\//.exec(p)?.[1]).filter((d): d is string => d !== undefined))].map(decodeURIComponent).filter(d => !only || d === only)
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
        for (const p of index.parts) console.log(`    part-${p.first}: mutations ${p.first}–${p.last}, ${kib(p.bytes)}`)
      } catch (e) {
        if (!(e instanceof CorruptFileError)) throw e
        console.log(`  client ${id}: CORRUPT: ${e.message}`)
      }
    }
  }
}

export async function files(args: string[]): Promise<void> {
  const [command, where, ...rest] = args
  if (!command || !where || !['inspect', 'sync', 'forget'].includes(command)) {
    console.log(FILES_USAGE)
    process.exit(command === undefined || command === 'help' ? 0 : 2)
  }
  const { values } = parseArgs({
    args: rest,
    options: { db: { type: 'string' }, client: { type: 'string' }, replica: { type: 'string' }, label: { type: 'string', default: 'files-cli' }, watch: { type: 'string' }, user: { type: 'string' }, password: { type: 'string' } },
  })
  const store = storeAt(where, values.user, values.password)
  if (command === 'inspect') return inspect(store, values.db)
  if (!values.db) throw new InvalidOptionsError('--db', `files ${command} needs --db <name>`)
  if (command === 'forget') {
    if (!values.client) throw new InvalidOptionsError('--client', 'files forget needs --client <id> (tidepool files inspect lists them)')
    await forgetClient(values.db, store, values.client)
    return void console.log(`Forgot client ${values.client} of ${values.db}: it no longer holds the others' checkpoints back. Its mutations stay readable; if it syncs again, it is listed again.`)
  }
  // loaded here: `files inspect` works without better-sqlite3
  const { sqliteStorage } = await import('../sqlite.js')
  const db = await openDatabase({
    name: values.db,
    models: [],
    storage: sqliteStorage(values.replica ?? `./tidepool-files-${values.db}.db`),
    files: { stores: [store], label: values.label, interval: 0, onProgress: p => process.stderr.write(`\r${p.phase} ${p.done}/${p.total} parts`), onWarning: w => console.warn(`warning: ${w}`) },
  })
  const once = async () => {
    const r = await db.files.sync()
    console.log(`merged ${r.merged}, uploaded ${r.uploaded}, read ${kib(r.bytesRead)}, wrote ${kib(r.bytesWritten)}${r.skipped.length ? `, skipped ${r.skipped.length} unreadable file(s)` : ''}`)
  }
  await once()
  if (!values.watch) return db.close()
  const every = Number(values.watch)
  if (!Number.isInteger(every) || every < 100) throw new InvalidOptionsError('--watch', 'takes milliseconds (at least 100)')
  const timer = setInterval(() => void once().catch(e => console.error(`sync failed: ${(e as Error).message}`)), every)
  const stop = () => {
    clearInterval(timer)
    void db.close().then(() => process.exit(0))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}
