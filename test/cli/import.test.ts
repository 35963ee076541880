import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { memoryStorage, openDatabase } from 'tidepool'
import { sqliteStorage } from 'tidepool/sqlite'
import { createServer } from 'tidepool/server'
import { afterAll, describe, expect, it } from 'vitest'

const CLI = join(import.meta.dirname, '../../dist/cli/main.js')
const dir = mkdtempSync(join(tmpdir(), 'tidepool-import-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function tidepool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise(resolve => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }))
  })
}

/** A models module, as an app would have it; `indexed` adds an index on `n`. */
function modelsFile(name: string, indexed: boolean): string {
  const file = join(dir, name)
  writeFileSync(
    file,
    `import { model, S } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../dist/index.js')).href)}
export class Note extends model({ collection: 'Note', fields: { text: S.str, n: S.int.min(0) }${indexed ? ", indexes: [['n']]" : ''} }) {}
`,
  )
  return file
}

const lines = (count: number, from = 0) => Array.from({ length: count }, (_, i) => JSON.stringify({ id: `n${from + i}`, text: `note ${from + i}`, n: from + i })).join('\n') + '\n'

describe('tidepool import', () => {
  it('imports a JSON Lines file into a replica in batches, shows "x/y" progress off a terminal, and pushes it to a server', async () => {
    const server = await createServer({ storage: ':memory:', port: 0 })
    try {
      const data = join(dir, 'notes.jsonl')
      writeFileSync(data, lines(2500) + '\n')
      const replica = join(dir, 'a.db')
      const r = await tidepool(['import', data, '--into', replica, '--models', modelsFile('models.mjs', false), '--collection', 'Note', '--sync', server.url])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toContain(`imported 2500 Note document(s) into ${replica}, pushed to ${server.url}`)
      const progress = r.stderr.split('\n')
      expect(progress).toEqual(expect.arrayContaining(['import 0/2500 documents', 'import 2500/2500 documents']))
      // one mutation per batch of 1,000, pushed as they commit: what is left when the import ends is shown pushing, to the end
      const pushed = progress.filter(l => l.startsWith('push '))
      expect(pushed.every(l => /^push [0-3]\/[1-3] mutations$/.test(l))).toBe(true)
      if (pushed.length) expect(pushed.at(-1)).toMatch(/^push ([1-3])\/\1 mutations$/)

      // another replica of the server has them all
      const { Note } = (await import(pathToFileURL(modelsFile('models-again.mjs', false)).href)) as { Note: Parameters<typeof openDatabase>[0]['models'][number] }
      const other = await openDatabase({ name: 'other', models: [Note], storage: memoryStorage(), sync: { url: server.url, pollInterval: 0 } })
      await other.sync.syncNow()
      expect(await other.query(Note).count()).toBe(2500)
      await other.close()

      // models with a new index build it over what the replica holds, and show it
      writeFileSync(data, lines(10, 2500))
      const again = await tidepool(['import', data, '--into', replica, '--models', modelsFile('models-indexed.mjs', true), '--collection', 'Note'])
      expect(again.code, again.stderr).toBe(0)
      expect(again.stderr).toMatch(/^index Note \S+ 2500\/2500 documents$/m)
      expect(again.stdout).toContain('imported 10 Note document(s)')
      expect(again.stdout).toContain('1 mutation(s) wait in its outbox for a server')
    } finally {
      await server.close()
    }
  })

  it('stops at a bad line, naming it, with the batches before it kept', async () => {
    const data = join(dir, 'bad.jsonl')
    const replica = join(dir, 'bad.db')
    const models = modelsFile('bad-models.mjs', false)
    writeFileSync(data, lines(4) + JSON.stringify({ id: 'x', text: 'negative', n: -1 }) + '\n' + lines(2, 10))
    const r = await tidepool(['import', data, '--into', replica, '--models', models, '--collection', 'Note', '--batch', '2'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(new RegExp(`tidepool: ${data} line 5: .*n.* \\(imported 4 document\\(s\\) before it; a rerun overwrites them\\)`))
    const { inspectReplica } = await import('../../src/replica/inspect.js')
    expect((await inspectReplica(sqliteStorage(replica))).collections).toEqual([{ name: 'Note', docs: 4, pending: 4, deleting: 0 }])

    writeFileSync(data, '{"id":"y","text":"fine","n":1}\nnot json\n')
    const notJson = await tidepool(['import', data, '--into', replica, '--models', models, '--collection', 'Note'])
    expect(notJson).toMatchObject({ code: 1, stderr: expect.stringContaining(`${data} line 2 is not JSON`) })
    const unknown = await tidepool(['import', data, '--into', replica, '--models', models, '--collection', 'Nope'])
    expect(unknown).toMatchObject({ code: 1, stderr: expect.stringContaining('has no model of collection Nope: it has Note') })
  })
})
