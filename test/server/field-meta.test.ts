import Database from 'better-sqlite3'
import fc from 'fast-check'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { Op } from '../../src/core/mutation.js'
import { PROTOCOL_VERSION, type PushRequest } from '../../src/protocol/messages.js'
import { decodeFields, encodeFields } from '../../src/server/field-meta.js'
import { pull } from '../../src/server/pull.js'
import { push } from '../../src/server/push.js'
import { sqliteServerStore } from '../../src/server/sqlite-store.js'
import type { FieldMeta } from '../../src/server/store.js'

const dir = mkdtempSync(join(tmpdir(), 'tidepool-field-meta-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const meta = fc.record({ rev: fc.nat(), client: fc.string(), kind: fc.constantFrom<FieldMeta['kind']>('overwrite', 'merge') })

describe("a document's field metadata as stored", () => {
  it('reads back as it was written, whatever its fields and changes (property)', () => {
    // few distinct changes, as documents have: most fields share one
    const name = fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', ''))
    const fields = fc.array(meta, { minLength: 1, maxLength: 3 }).chain(changes => fc.dictionary(name, fc.constantFrom(...changes)))
    fc.assert(
      fc.property(fields, f => {
        expect(decodeFields(encodeFields(f))).toEqual(f)
      }),
    )
  })

  it('carries each change once, however many fields it wrote', () => {
    const change: FieldMeta = { rev: 7, client: 'a-client-id-of-some-length', kind: 'overwrite' }
    const text = encodeFields({ '': change, id: change, title: change, done: change, n: { ...change, kind: 'merge' } })
    expect(text.split(change.client).length - 1).toBe(2)
    expect(text.length).toBeLessThan(JSON.stringify({ '': change, id: change, title: change, done: change, n: change }).length / 2)
  })

  it('written before, in the object form, is read, and the document is written in the new form once it changes', async () => {
    const file = join(dir, 'server.db')
    const ctx = { userId: 'ann', admin: false, minSchemaVersion: 1 }
    const req = (clientId: string, ops: Op[]): PushRequest => ({ type: 'push', v: PROTOCOL_VERSION, clientId, mutations: [{ seq: 1, id: `${clientId}-1`, ops, preconditions: [], schemaVersion: 1 }] })
    let store = sqliteServerStore(file)
    await store.open()
    await push(store, req('c1', [{ type: 'create', collection: 'Item', id: 'd', data: { id: 'd', n: 0, label: 'x' } }]), ctx)
    await store.close()
    // the row as a server before this one wrote it
    const raw = new Database(file)
    const row = raw.prepare<[], { fields: string }>("SELECT fields FROM tp_docs WHERE id = 'd'").get()!
    raw.prepare("UPDATE tp_docs SET fields = ? WHERE id = 'd'").run(JSON.stringify(decodeFields(row.fields)))
    raw.close()

    store = sqliteServerStore(file)
    await store.open()
    await push(store, req('c2', [{ type: 'set', collection: 'Item', id: 'd', path: ['label'], value: 'y' }]), ctx)
    // from the revision of the create on, only the field the second change wrote
    const answer = await pull(store, { type: 'pull', v: PROTOCOL_VERSION, clientId: 'c3', since: 1 }, { userId: 'ann', everything: false })
    expect(answer.changes).toEqual([expect.objectContaining({ id: 'd', set: { label: 'y' }, unset: [] })])
    await store.close()
    const after = new Database(file, { readonly: true })
    const stored = after.prepare<[], { fields: string }>("SELECT fields FROM tp_docs WHERE id = 'd'").get()!.fields
    after.close()
    expect(stored.startsWith('[')).toBe(true)
    expect(decodeFields(stored)).toMatchObject({ n: { rev: 1, client: 'c1' }, label: { rev: 2, client: 'c2' } })
  })
})
