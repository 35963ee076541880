import type { Command } from 'commander'
import { resolve } from 'node:path'
import { InvalidOptionsError } from '../core/errors.js'
import { describeOp, describePrecondition } from '../core/describe.js'
import { inspectReplica, type ReplicaReport } from '../replica/inspect.js'
import { existingFile } from './values.js'

export function inspectCommand(program: Command): void {
  program
    .command('inspect')
    .description("what a SQLite replica holds: its identity and sync state, documents by collection, the outbox with each mutation's ops and preconditions, stored rejections, and the user's realms")
    .argument('<replica>', 'the SQLite file of a replica (sqliteStorage)', existingFile)
    .option('--json', 'print the report as JSON', false)
    .action((file: string, flags: { json: boolean }) => inspect(file, flags.json))
}

async function inspect(file: string, json: boolean): Promise<void> {
  // loaded here: the rest of the command line works without better-sqlite3
  const { default: Sqlite } = await import('better-sqlite3')
  // checked read-only first: opening a file that is not a replica as one would add tables to it
  const probe = new Sqlite(file, { readonly: true, fileMustExist: true })
  const isReplica = probe.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tp_meta'").get() !== undefined
  probe.close()
  if (!isReplica) throw new InvalidOptionsError('<replica>', `${resolve(file)} is a SQLite file, but not a Tidepool replica`)
  const { sqliteStorage } = await import('../sqlite.js')
  const report = await inspectReplica(sqliteStorage(file))
  if (json) return void console.log(JSON.stringify(report, null, 2))
  print(resolve(file), report)
}

function print(file: string, { head, collections, outbox, rejections, memberships }: ReplicaReport): void {
  console.log(`Replica ${file}`)
  console.log(`  client ${head.clientId}, user ${head.userId ?? '(not known yet)'}${head.signedOut ? `, signed out: ${head.signedOut}` : ''}`)
  console.log(`  schema version ${head.schemaVersion}, pulled revision ${head.pulledRevision}${head.pullBase !== undefined ? ` (a paged pull under way from ${head.pullBase})` : ''}${head.resync ? ', resyncing' : ''}`)
  console.log(collections.length ? 'Collections' : 'No documents')
  for (const c of collections) console.log(`  ${c.name}: ${c.docs} document(s)${c.pending ? `, ${c.pending} with pending writes` : ''}${c.deleting ? `, ${c.deleting} deleted locally` : ''}`)
  console.log(outbox.length ? `Outbox: ${outbox.length} pending mutation(s)` : 'Outbox: empty')
  for (const m of outbox) {
    console.log(`  #${m.seq} ${m.id} at ${new Date(m.time).toISOString()}`)
    for (const op of m.ops) console.log(`    ${describeOp(op)}`)
    for (const p of m.preconditions) console.log(`    if ${describePrecondition(p)}`)
  }
  console.log(rejections.length ? `Rejections: ${rejections.length} not acknowledged` : 'Rejections: none')
  for (const r of rejections) console.log(`  #${r.mutation.seq} ${r.id}: ${r.reason}: ${r.message}`)
  if (memberships.length) console.log(`Realms: member of ${memberships.length}`)
  for (const m of memberships) console.log(`  ${m.realmId}: ${m.roles.join(', ')}`)
}
