import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION, type PushResponse } from '../../src/sync/protocol.js'
import { postgresAvailable, storeFactories } from './stores.js'

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js')

/** Starts `tidepool serve` as a child process; resolves with its URL once it listens. */
function serve(db: string): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--db', db], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out)
      if (m) resolve({ child, url: m[1]! })
    })
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.on('exit', code => reject(new Error(`server exited (${code}): ${err}`)))
  })
}

const batch = Array.from({ length: 400 }, (_, i) => ({
  seq: i + 1,
  id: `m${i + 1}`,
  ops: i === 0 ? [{ type: 'create', collection: 'Counter', id: 'c', data: { id: 'c', n: 0 } }] : [{ type: 'increment', collection: 'Counter', id: 'c', path: ['n'], by: 1 }],
  preconditions: [],
  schemaVersion: 1,
}))
const pushBody = JSON.stringify({ type: 'push', v: PROTOCOL_VERSION, clientId: 'crashy', mutations: batch })

for (const factory of storeFactories) {
  describe(`the server killed mid-push (${factory.name})`, () => {
    let available = true
    beforeAll(async () => {
      if (factory.name === 'postgres') available = await postgresAvailable()
    })

    it('loses nothing acknowledged and applies nothing twice', async c => {
      if (!available) return c.skip()
      const made = factory.make()
      try {
        const first = await serve(made.url)
        const killed = new Promise(r => first.child.on('exit', r))
        const pushing = fetch(`${first.url}/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: pushBody }).catch((e: Error) => e)
        // a push is one commit: the kill lands before it, during it, or after its answer; in every case, once
        await new Promise(r => setTimeout(r, 10 + Math.random() * 120))
        first.child.kill('SIGKILL')
        await killed
        await pushing

        const second = await serve(made.url)
        try {
          const res = (await (await fetch(`${second.url}/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: pushBody })).json()) as PushResponse
          expect(res.stopped).toBeUndefined()
          expect(res.results.map(r => r.status)).toEqual(batch.map(() => 'applied'))
          const pulled = (await (await fetch(`${second.url}/v1/pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'pull', v: PROTOCOL_VERSION, clientId: 'reader', since: 0 }) })).json()) as {
            changes: Array<{ doc: { n: number } }>
          }
          expect(pulled.changes[0]!.doc.n).toBe(399)
        } finally {
          second.child.kill('SIGTERM')
          await new Promise(r => second.child.on('exit', r))
        }
      } finally {
        await made.cleanup()
      }
    }, 60_000)
  })
}
