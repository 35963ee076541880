import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { Model, S, openDatabase } from '../../src/index.js'
import { folderStore } from '../../src/files/folder.js'

const run = promisify(execFile)
const CLI = join(import.meta.dirname, '../../dist/cli/main.js')

class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = { text: S.str }
}

describe('tidepool files', () => {
  it('inspect lists clients, checkpoints, parts, sizes and latest sequences, and flags corrupt files; sync runs a relay replica', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-files-cli-'))
    try {
      const folder = join(dir, 'shared')
      const a = await openDatabase({ name: 'notes', models: [Note], files: { stores: [folderStore(folder)], label: 'laptop', interval: 0, partBytes: 1024 } })
      for (let i = 0; i < 3; i++) await a.run(tx => void tx.create(Note, { id: `n${i}`, text: 'hello' }))
      await a.files.sync()

      const inspected = (await run(process.execPath, [CLI, 'files', 'inspect', folder])).stdout
      expect(inspected).toContain('Database notes')
      expect(inspected).toMatch(new RegExp(`client ${a.clientId} "laptop": latest 3, 1 part\\(s\\), [\\d.]+ KiB`))
      expect(inspected).toMatch(/part-1: mutations 1–3/)

      const synced = await run(process.execPath, [CLI, 'files', 'sync', folder, '--db', 'notes', '--replica', join(dir, 'relay.db')])
      expect(synced.stdout).toMatch(/^merged 3, uploaded 0/m)
      // not a terminal: progress as plain lines, the last one complete
      expect(synced.stderr.trim().split('\n').at(-1)).toMatch(/^download (\d+)\/\1 parts$/)
      // enough edits to fill parts that a checkpoint replaces
      for (let i = 0; i < 30; i++) await a.run(async tx => void ((await tx.get(Note, 'n0'))!.text = `edit ${i}`))
      await a.files.sync()
      await a.files.sync()
      const compacted = (await run(process.execPath, [CLI, 'files', 'inspect', folder])).stdout
      expect(compacted).toMatch(/checkpoint: mutations 1–\d+ compacted, 1 file\(s\), [\d.]+ KiB/)
      const forgot = (await run(process.execPath, [CLI, 'files', 'forget', folder, '--db', 'notes', '--client', a.clientId])).stdout
      expect(forgot).toMatch(/Forgot client .* it no longer holds the others' checkpoints back/)
      expect((await run(process.execPath, [CLI, 'files', 'inspect', folder])).stdout).toMatch(new RegExp(`forgotten: client ${a.clientId}`))
      await expect(run(process.execPath, [CLI, 'files', 'forget', folder, '--db', 'notes', '--client', 'nobody'])).rejects.toMatchObject({ stderr: expect.stringMatching(/no client nobody in database notes/) })
      // a client index half-synced by the folder's sync client
      writeFileSync(join(folder, `tidepool-notes/client-${a.clientId}/client-index.json`), '{"format":1,')
      const corrupt = (await run(process.execPath, [CLI, 'files', 'inspect', folder, '--db', 'notes'])).stdout
      expect(corrupt).toMatch(new RegExp(`client ${a.clientId}: CORRUPT: .*not valid JSON`))
      await a.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('sync refuses a database the store does not hold, naming those it does; inspect flags a corrupt or missing part', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-files-cli-'))
    try {
      const folder = join(dir, 'shared')
      const a = await openDatabase({ name: 'notes', models: [Note], files: { stores: [folderStore(folder)], label: 'laptop', interval: 0, partBytes: 256 } })
      for (let i = 0; i < 6; i++) await a.run(tx => void tx.create(Note, { id: `n${i}`, text: 'hello, a note long enough to fill parts' }))
      await a.files.sync()
      await a.close()

      await expect(run(process.execPath, [CLI, 'files', 'sync', folder, '--db', 'notse', '--replica', join(dir, 'relay.db')])).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/there is no database notse at file:.*shared: it holds notes/),
      })
      await expect(run(process.execPath, [CLI, 'files', 'sync', join(dir, 'empty'), '--db', 'notes'])).rejects.toMatchObject({ stderr: expect.stringMatching(/it holds none/) })

      const parts = [...(await run(process.execPath, [CLI, 'files', 'inspect', folder])).stdout.matchAll(/part-(\d+): mutations/g)].map(m => Number(m[1]))
      expect(parts.length).toBeGreaterThanOrEqual(2)
      const partFile = (first: number) => join(folder, `tidepool-notes/client-${a.clientId}/part-${String(first).padStart(12, '0')}.json`)
      truncateSync(partFile(parts[0]!), 20)
      unlinkSync(partFile(parts[1]!))
      const inspected = (await run(process.execPath, [CLI, 'files', 'inspect', folder])).stdout
      expect(inspected).toMatch(new RegExp(`part-${parts[0]}: mutations .*: CORRUPT: .*not valid JSON`))
      expect(inspected).toMatch(new RegExp(`part-${parts[1]}: mutations .*: MISSING`))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
