import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runUntilKilled } from '../helpers/killed-writer.js'
import { applyOp, type Doc } from '../../src/core/apply.js'
import { docKey } from '../../src/core/key.js'
import { Replica } from '../../src/replica/replica.js'
import { sqliteStorage } from '../../src/sqlite.js'

const dir = mkdtempSync(join(tmpdir(), 'tidepool-crash-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('crash safety of a SQLite replica', () => {
  // SIGKILLed at a random moment: during 20-document transactions, during imports of 1,000 documents
  // per transaction, and during one-document read-modify-write commits
  it.each([
    { kind: 'transactions of 20 documents', size: 20 },
    { kind: 'an import, 1,000 documents per transaction', size: 1000 },
    { kind: 'one-document commits', size: 0 },
  ])('killed during $kind, keeps every returned transaction, none half-applied, and an outbox that matches the views', async ({ size }) => {
    const file = join(dir, `replica-${size}.db`)
    let next = 0
    let everAcked: number[] = []
    for (let round = 0; round < 5; round++) {
      const acked = await runUntilKilled(join(import.meta.dirname, 'writer.ts'), [file, String(next), String(size)], 50 + Math.floor(Math.random() * 400))
      expect(acked.length).toBeGreaterThan(0)
      everAcked = everAcked.concat(acked)

      const replica = await Replica.open(sqliteStorage(file), { collections: [], schemaVersion: 1 })
      const docs = await replica.allDocs()
      const total = docs.find(d => d.collection === 'Total')!.data as { batches: number; last: number }
      const batches = new Map<number, number>()
      for (const d of docs) if (d.collection === 'Batch') batches.set(d.data.n as number, (batches.get(d.data.n as number) ?? 0) + 1)

      // every transaction that returned is there, and no transaction was counted twice or skipped
      expect(total.last).toBeGreaterThanOrEqual(Math.max(...everAcked))
      expect(total.batches).toBe(total.last + 1)
      // nothing half-applied: each batch whole, and the total agrees with the batches
      if (size > 0) {
        for (const n of everAcked) expect(batches.get(n)).toBe(size)
        for (const count of batches.values()) expect(count).toBe(size)
        expect(batches.size).toBe(total.batches)
        expect(Math.max(...batches.keys())).toBe(total.last)
      }

      // replaying the outbox from nothing gives exactly the views
      const outbox = await replica.outbox()
      expect(outbox.map(m => m.seq)).toEqual(outbox.map((_, i) => i + 1))
      const replayed = new Map<string, Doc>()
      for (const m of outbox) for (const op of m.ops) replayed.set(docKey(op.collection, op.id), applyOp(replayed.get(docKey(op.collection, op.id)), op))
      const views = new Map(docs.map(d => [docKey(d.collection, d.id), d.data]))
      expect(new Map([...replayed].filter(([, v]) => v !== undefined))).toEqual(views)
      await replica.close()
      next = total.last + 1
    }
  }, 120_000)
})
