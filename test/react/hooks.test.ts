import { createElement as h } from 'react'
import { renderToString } from 'react-dom/server'
import { describe, expect, expectTypeOf, it, vi } from 'vitest'
import { Model, S, memoryStorage, openDatabase, type Snapshot, type SyncStatus } from '../../src/index.js'
import { TidepoolProvider, useDoc, useQuery, useRejections, useSyncStatus } from '../../src/react/index.js'

class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = { text: S.str, pinned: S.bool.default(false) }
}

describe('tidepool/react on the server', () => {
  it('renders the loading state without touching storage', async () => {
    const db = await openDatabase({ name: 'ssr', models: [Note], storage: memoryStorage() })
    await db.run(tx => void tx.create(Note, { id: 'n1', text: 'stored' }))
    const query = vi.spyOn(db, 'query')
    const watch = vi.spyOn(db, 'watch')
    const rejections = vi.spyOn(db, 'rejections')
    function Notes() {
      const snap = useQuery(() => db.query(Note), [])
      const doc = useDoc(Note, 'n1')
      const status = useSyncStatus()
      const rejected = useRejections()
      return h('p', null, `${snap ? snap.size : 'loading'} ${doc === undefined ? 'loading' : doc?.text} ${status?.phase ?? 'no status'} ${rejected ? rejected.length : 'loading'}`)
    }
    const html = renderToString(h(TidepoolProvider, { db }, h(Notes)))
    expect(html).toBe('<p>loading loading no status loading</p>')
    expect(query).not.toHaveBeenCalled()
    expect(watch).not.toHaveBeenCalled()
    expect(rejections).not.toHaveBeenCalled()
    await db.close()
  })

  it('says what is missing when a hook has no provider above it', () => {
    function Orphan() {
      useDoc(Note, 'n1')
      return null
    }
    expect(() => renderToString(h(Orphan))).toThrow(/no <TidepoolProvider db=\{db\}> above this component/)
  })

  it('types each hook by its model', async () => {
    const db = await openDatabase({ name: 'types', models: [Note], storage: memoryStorage() })
    // types only: the hooks are not called outside a component
    const typed = () => {
      const snap = useQuery(() => db.query(Note).where('pinned', '==', true), [])
      expectTypeOf(snap).toEqualTypeOf<Snapshot<typeof Note> | undefined>()
      expectTypeOf(snap!.docs[0]!.text).toEqualTypeOf<string>()
      const doc = useDoc(Note, 'n1')
      expectTypeOf(doc!.pinned).toEqualTypeOf<boolean>()
      expectTypeOf(useSyncStatus()).toEqualTypeOf<SyncStatus | undefined>()
      // @ts-expect-error a field Note does not have
      void snap!.docs[0]!.title
      // @ts-expect-error a query on a field Note does not have
      useQuery(() => db.query(Note).where('title', '==', 'x'), [])
    }
    void typed
    await db.close()
  })
})
