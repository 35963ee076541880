import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import Sqlite from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { Model, S, memoryStorage, openDatabase } from '../../src/index.js'
import { createServer } from '../../src/server.js'
import { sqliteStorage } from '../../src/sqlite.js'

const run = promisify(execFile)
const CLI = join(import.meta.dirname, '../../dist/cli/main.js')

class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = { text: S.str, n: S.int.default(0) }
}

describe('tidepool inspect', () => {
  it("prints a replica's identity, collections, outbox (ops and preconditions) and rejections, and refuses what is not one", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-inspect-'))
    try {
      const server = await createServer({ storage: ':memory:', port: 0, models: [Note] })
      const first = await openDatabase({ name: 'a', models: [Note], storage: memoryStorage(), sync: { url: server.url, pollInterval: 0 } })
      await first.run(tx => void tx.create(Note, { id: 'taken', text: 'first' }))
      await first.sync.syncNow()
      const file = join(dir, 'replica.db')
      const db = await openDatabase({ name: 'b', models: [Note], storage: sqliteStorage(file), sync: { url: server.url, pollInterval: 0 } })
      await db.run(tx => void tx.create(Note, { id: 'taken', text: 'second' }))
      await db.sync.syncNow()
      expect(await db.rejections()).toHaveLength(1)
      await first.close()
      await server.close()
      // offline now: these stay in the outbox
      await db.run(tx => void tx.create(Note, { id: 'mine', text: 'offline' }))
      await db.run(async tx => (await tx.get(Note, 'mine'))!.getField('n').incrementBy(2))
      const clientId = db.clientId
      await db.close()

      const { stdout } = await run(process.execPath, [CLI, 'inspect', file])
      expect(stdout).toContain(`Replica ${file}`)
      expect(stdout).toContain(`client ${clientId}, user anonymous`)
      // the server's "taken", pulled when the create was rejected, and "mine"
      expect(stdout).toMatch(/Note: 2 document\(s\), 1 with pending writes/)
      expect(stdout).toMatch(/Outbox: 2 pending mutation\(s\)\n {2}#\d+ \S+ at [\d-]+T[\d:.]+Z\n {4}create Note\/mine \{"data":\{"id":"mine","text":"offline","n":0,"realmId":"anonymous"\}\}\n {2}#\d+ \S+ at \S+\n {4}increment Note\/mine \{"path":\["n"\],"by":2\}\n {4}if exists \{"collection":"Note","id":"mine"\}/)
      expect(stdout).toMatch(/Rejections: 1 not acknowledged\n {2}#1 \S+: already-exists: /)

      const report = JSON.parse((await run(process.execPath, [CLI, 'inspect', file, '--json'])).stdout)
      expect(report.outbox.map((m: { ops: Array<{ type: string }> }) => m.ops[0]!.type)).toEqual(['create', 'increment'])
      expect(report.rejections[0].reason).toBe('already-exists')

      // a SQLite file that is not a replica is refused, and left as it was
      const other = join(dir, 'other.db')
      const plain = new Sqlite(other)
      plain.exec('CREATE TABLE t (x)')
      plain.close()
      await expect(run(process.execPath, [CLI, 'inspect', other])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining(`${other} is a SQLite file, but not a Tidepool replica`) })
      const tables = new Sqlite(other, { readonly: true }).prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()
      expect(tables).toEqual([{ name: 't' }])
      await expect(run(process.execPath, [CLI, 'inspect', join(dir, 'none.db')])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('There is no file') })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
