import { beforeAll, describe, expect, it } from 'vitest'
import { serveCli } from '../helpers/cli-server.js'
import { PROTOCOL_VERSION, type PushResponse } from '../../src/protocol/messages.js'
import { postgresAvailable, storeFactories } from './stores.js'

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
        const first = await serveCli(made.url)
        const killed = new Promise(r => first.child.on('exit', r))
        const pushing = fetch(`${first.url}/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: pushBody }).catch((e: Error) => e)
        // a push is one commit: the kill lands before it, during it, or after its answer; in every case, once
        await new Promise(r => setTimeout(r, 10 + Math.random() * 120))
        first.child.kill('SIGKILL')
        await killed
        await pushing

        const second = await serveCli(made.url)
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
