import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION, type PullResponse } from '../../src/protocol/messages.js'
import { openServerStore } from '../../src/server/open-store.js'
import { pull } from '../../src/server/pull.js'
import { createServer } from '../../src/server.js'

const dir = mkdtempSync(join(tmpdir(), 'tidepool-pull-wire-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('a pull answer on the wire', () => {
  it('is the answer pull() gives, documents passed on as stored or parsed, one written before realms included', async () => {
    const file = join(dir, 'server.db')
    const first = await createServer({ storage: file, port: 0 })
    const docs = [
      { id: 'plain', realmId: 'anonymous', title: 'a' },
      // a key of the realm's name inside the document is not its realm
      { id: 'nested', title: 'b', inner: { realmId: 'elsewhere' }, list: [{ realmId: 'x' }], note: '"realmId":"fake"' },
      { id: 'odd', title: 'c\u0000\u2028', realmId: 'anonymous' },
    ]
    const ops = docs.map(data => ({ type: 'create', collection: 'Note', id: data.id, data }))
    const pushed = await fetch(`${first.url}/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'push', v: PROTOCOL_VERSION, clientId: 'w', mutations: [{ seq: 1, id: 'm1', ops, preconditions: [], schemaVersion: 1 }] }) })
    expect(pushed.status).toBe(200)
    await first.close()
    // a row as a server before realms wrote it: its data names no realm, the column does
    const raw = new Database(file)
    raw.prepare(`INSERT INTO tp_docs (collection, id, data, revision, fields, realm) VALUES ('Note', 'legacy', '{"id":"legacy","title":"d"}', 1, '{}', 'anonymous')`).run()
    raw.close()
    const server = await createServer({ storage: file, port: 0 })
    try {
      const body = { type: 'pull', v: PROTOCOL_VERSION, clientId: 'reader', since: 0 } as const
      const wire = (await (await fetch(`${server.url}/v1/pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as PullResponse
      const store = openServerStore(join(dir, 'server.db'))
      await store.open()
      const direct = await pull(store, body, { userId: 'anonymous', everything: false })
      await store.close()
      expect(wire).toEqual(JSON.parse(JSON.stringify(direct)))
      const byId = new Map(wire.changes.map(c => [c.id, 'doc' in c ? c.doc : undefined]))
      expect(byId.get('legacy')).toEqual({ id: 'legacy', title: 'd', realmId: 'anonymous' })
      expect(byId.get('nested')).toEqual({ ...docs[1], realmId: 'anonymous' })
      expect(byId.get('odd')).toEqual(docs[2])
    } finally {
      await server.close()
    }
  })
})
