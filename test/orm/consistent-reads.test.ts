import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Sqlite from 'better-sqlite3'
import { MessageChannel } from 'node:worker_threads'
import { afterAll, describe, expect, it } from 'vitest'
import { memoryStorage, model, openDatabase, S, type Database } from '../../src/index.js'
import { sqliteStorage } from '../../src/sqlite.js'

class Account extends model({ collection: 'Account', fields: { balance: S.int } }) {}

const dir = mkdtempSync(join(tmpdir(), 'tidepool-consistent-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A transfer of 10 from a to b, committed through `writer` while `reader` is between its two reads. */
async function readAcrossTransfer(reader: Database, writer: Database): Promise<{ total: number; attempts: number }> {
  await writer.run(tx => {
    tx.createOrOverwrite(Account, { id: 'a', balance: 50 })
    tx.createOrOverwrite(Account, { id: 'b', balance: 50 })
  })
  let attempts = 0
  const total = await reader.run({ readOnly: true, initialBackoff: 1, maxBackoff: 2 }, async tx => {
    attempts++
    const a = await tx.get(Account, 'a')
    if (attempts === 1)
      await writer.run(async w => {
        ;(await w.get(Account, 'a'))!.balance -= 10
        ;(await w.get(Account, 'b'))!.balance += 10
      })
    const b = await tx.get(Account, 'b')
    return a!.balance + b!.balance
  })
  return { total, attempts }
}

/** `count` databases opened on one fresh file, holding account a with a balance of 1. */
async function onOneFile<N extends 1 | 2>(name: string, count: N): Promise<N extends 1 ? [Database] : [Database, Database]> {
  const dbs: Database[] = []
  for (let i = 0; i < count; i++) dbs.push(await openDatabase({ name: 's', models: [Account], storage: sqliteStorage(join(dir, name)) }))
  await dbs[0]!.run(tx => void tx.createOrOverwrite(Account, { id: 'a', balance: 1 }))
  return dbs as N extends 1 ? [Database] : [Database, Database]
}

const balanceIn = (db: Database) => db.run({ readOnly: true }, async tx => (await tx.get(Account, 'a'))!.balance)
const setBalance = (db: Database, balance: number) => db.run(async tx => void ((await tx.get(Account, 'a'))!.balance = balance))

/** Sets a's balance through a connection that no database of this process knows of, as another process's or thread's. */
function setBehindTheBack(file: string, balance: number): void {
  const other = new Sqlite(file)
  other.prepare("UPDATE tp_docs SET v = json_set(v, '$.view.balance', ?) WHERE k = ?").run(balance, 'Account\u0000a')
  other.close()
}

async function closeAll(...dbs: Database[]): Promise<void> {
  for (const db of dbs) await db.close()
}

describe('a transaction that reads in several steps sees one state', () => {
  it('retries when its own database commits between its reads (memory)', async () => {
    const db = await openDatabase({ name: 'm', models: [Account], storage: memoryStorage() })
    expect(await readAcrossTransfer(db, db)).toEqual({ total: 100, attempts: 2 })
    await db.close()
  })

  it('retries when its own database commits between its reads (SQLite)', async () => {
    const db = await openDatabase({ name: 's', models: [Account], storage: sqliteStorage(join(dir, 'own.db')) })
    expect(await readAcrossTransfer(db, db)).toEqual({ total: 100, attempts: 2 })
    await db.close()
  })

  it('retries when another connection to the same SQLite file commits between its reads', async () => {
    const file = join(dir, 'shared.db')
    const reader = await openDatabase({ name: 's', models: [Account], storage: sqliteStorage(file) })
    const writer = await openDatabase({ name: 's', models: [Account], storage: sqliteStorage(file) })
    expect(await readAcrossTransfer(reader, writer)).toEqual({ total: 100, attempts: 2 })
    await reader.close()
    await writer.close()
  })

  it('a read right after a commit through another database on the same file sees it, however soon', async () => {
    const [reader, writer] = await onOneFile('soon.db', 2)
    // one chain of awaits, no timer between: the reader's point reads share a snapshot until something writes
    const seen = [await balanceIn(reader)]
    for (const next of [2, 3]) {
      await setBalance(writer, next)
      seen.push(await balanceIn(reader))
    }
    expect(seen).toEqual([1, 2, 3])
    await closeAll(reader, writer)
  })

  it('a read while another database on the file writes, and one right after its commit, each see the file as it then is', async () => {
    const [reader, writer] = await onOneFile('during.db', 2)
    // reads one after another, beside the writes, with no timer between: some fall while the writer's transaction is open
    let reading = true
    const seen: number[] = []
    const background = (async () => {
      while (reading) seen.push(await balanceIn(reader))
    })()
    const after: number[] = []
    for (const next of [2, 3, 4, 5]) {
      await setBalance(writer, next)
      after.push(await balanceIn(reader))
    }
    reading = false
    await background
    expect(after).toEqual([2, 3, 4, 5])
    expect(seen.length).toBeGreaterThan(4)
    await closeAll(reader, writer)
  })

  it('a long run of reads with no pause sees another process commit within a millisecond', async () => {
    const [db] = await onOneFile('other-process.db', 1)
    expect(await balanceIn(db)).toBe(1)
    setBehindTheBack(join(dir, 'other-process.db'), 2)
    // still the same turn of the event loop: only the clock says the shared snapshot is old
    const from = performance.now()
    while (performance.now() - from < 2);
    expect(await balanceIn(db)).toBe(2)
    await closeAll(db)
  })

  it('a read in a callback that follows a commit by another thread sees it, however soon the callback comes', async () => {
    const [db] = await onOneFile('callback.db', 1)
    const { port1, port2 } = new MessageChannel()
    const seen = new Promise<number[]>(resolve => {
      const values: number[] = []
      // a timer's callback reads; another connection commits and says so; the message's callback reads, in the same turn of the loop
      setTimeout(() => {
        void balanceIn(db).then(v => {
          values.push(v)
          setBehindTheBack(join(dir, 'callback.db'), 2)
          port1.postMessage('committed')
        })
      }, 0)
      port2.once('message', () => void balanceIn(db).then(v => resolve([...values, v])))
    })
    expect(await seen).toEqual([1, 2])
    port1.close()
    await closeAll(db)
  })

  it('does not retry when nothing was committed between its reads', async () => {
    const db = await openDatabase({ name: 'q', models: [Account], storage: sqliteStorage(join(dir, 'quiet.db')) })
    await db.run(tx => void tx.createOrOverwrite(Account, { id: 'a', balance: 1 }))
    let attempts = 0
    await db.run({ readOnly: true }, async tx => {
      attempts++
      await tx.get(Account, 'a')
      await tx.get(Account, 'b')
    })
    expect(attempts).toBe(1)
    await db.close()
  })
})
