import type { Command } from 'commander'
import { progress } from './progress.js'
import { duration } from './values.js'

export function compactCommand(program: Command): void {
  program
    .command('compact')
    .description("forget a server database's history older than --keep, once (while its servers run, or not)")
    .option('--db <where>', 'a SQLite file, or postgres://user@host/db[?schema=name]', './tidepool.db')
    .requiredOption('--keep <duration>', 'how much history to keep (30d, 12h, 90m, 0s…)', duration)
    .action((flags: { db: string; keep: number }) => compact(flags.db, flags.keep))
}

async function compact(db: string, keepMs: number): Promise<void> {
  const { openServerStore } = await import('../server/open-store.js')
  const store = openServerStore(db)
  await store.open()
  try {
    const shown = progress('rows')
    const c = await store.compact(keepMs, s => shown.step(s)).finally(() => shown.stop())
    console.log(`History kept from revision ${c.horizon}: forgot ${c.tombstones} tombstones, ${c.exits} realm exits, ${c.results} mutation outcomes, ${c.memberships} ended memberships`)
  } finally {
    await store.close()
  }
}
