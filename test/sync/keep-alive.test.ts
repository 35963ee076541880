import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')

/** Runs an ES module in a Node process of its own (importing the built package); resolves with its output once it exits by itself. */
function runScript(code: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    child.on('error', reject)
    child.on('exit', code => resolve({ code, out }))
  })
}

const prelude = `
import { model, openDatabase, S } from 'tidepool'
class Note extends model({ collection: 'Note', fields: { text: S.str } }) {}
`

describe('a Node process', () => {
  it('stays alive while a live query runs, and exits after the last unsubscribe', async () => {
    // the timer is unref'd: only the subscription can keep the process running until it fires
    const { code, out } = await runScript(`${prelude}
      const db = await openDatabase({ name: 'alive', models: [Note] })
      const stop = db.query(Note).subscribe(() => {})
      setTimeout(() => { console.log('still here'); stop() }, 200).unref()
    `)
    expect(out.trim()).toBe('still here')
    expect(code).toBe(0)
  }, 30_000)

  it('stays alive while sync retries a server that is down, and exits after db.close()', async () => {
    const { code, out } = await runScript(`${prelude}
      const db = await openDatabase({ name: 'alive', models: [Note], sync: { url: 'http://127.0.0.1:9', socket: false } })
      await db.run(tx => void tx.create(Note, { text: 'waits' }))
      setTimeout(async () => { console.log('still here', db.sync.status.phase, db.sync.status.pending); await db.close() }, 300).unref()
    `)
    expect(out.trim()).toBe('still here offline 1')
    expect(code).toBe(0)
  }, 30_000)
})
