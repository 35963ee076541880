import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { evaluate, type FilterOp } from '../../src/core/query.js'
import type { Json, JsonObject } from '../../src/core/json.js'
import { openDatabase, type Query } from '../../src/index.js'
import { adapters } from '../helpers/adapters.js'
import { until } from '../helpers/until.js'
import { Indexed, Unindexed } from './models.js'

const small = fc.integer({ min: -3, max: 3 })
const str = fc.constantFrom('', 'a', 'ab', 'b', 'B', 'é', '\u0000x', '\uD83D\uDE00', 'z')
const mixed = fc.oneof(fc.constant(null), fc.boolean(), small, fc.double({ min: -2, max: 2, noNaN: true }), str, fc.constant([1]), fc.constant({ k: 1 })) as fc.Arbitrary<Json>
const docArb = fc.record(
  { n: small, s: str, b: fc.boolean(), d: fc.double({ min: -5, max: 5, noNaN: true }), tags: fc.array(str, { maxLength: 3 }), m: fc.dictionary(fc.constantFrom('x', 'y'), mixed) },
  { requiredKeys: [] },
)

type Field = 'n' | 's' | 'b' | 'd' | 'tags' | 'm.x'
const operand: Record<Field, fc.Arbitrary<Json>> = { n: small, s: str, b: fc.boolean(), d: fc.double({ min: -5, max: 5, noNaN: true }), tags: fc.array(str, { maxLength: 2 }), 'm.x': mixed }
const filterArb: fc.Arbitrary<{ field: Field; op: FilterOp; value: Json }> = fc
  .record({ field: fc.constantFrom<Field>('n', 's', 'b', 'd', 'tags', 'm.x'), op: fc.constantFrom<FilterOp>('==', '!=', '<', '<=', '>', '>=', 'in', 'array-contains') })
  .chain(({ field, op }) => {
    const value = op === 'in' ? fc.array(field === 'tags' ? str.map(s => [s]) : operand[field], { minLength: 1, maxLength: 3 }) : op === 'array-contains' ? (field === 'tags' ? str : operand[field]) : operand[field]
    return value.map(v => ({ field, op: field !== 'tags' && field !== 'm.x' && op === 'array-contains' ? ('==' as const) : op, value: v as Json }))
  })
const queryArb = fc.record({
  filters: fc.array(filterArb, { maxLength: 2 }),
  orders: fc.array(fc.record({ field: fc.constantFrom<Field>('n', 's', 'b', 'd', 'm.x'), dir: fc.constantFrom<'asc' | 'desc'>('asc', 'desc') }), { maxLength: 2 }),
  limit: fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined }),
  cursor: fc.option(fc.record({ kind: fc.constantFrom('startAt', 'startAfter', 'endAt', 'endBefore'), value: mixed }), { nil: undefined }),
})
const editArb = fc.array(fc.record({ i: fc.nat(39), doc: fc.option(docArb, { nil: undefined }) }), { maxLength: 15 })

interface Q {
  filters: Array<{ field: Field; op: FilterOp; value: Json }>
  orders: Array<{ field: Field; dir: 'asc' | 'desc' }>
  limit: number | undefined
  cursor: { kind: string; value: Json } | undefined
}

function build<M extends typeof Indexed | typeof Unindexed>(q: Query<M>, spec: Q): Query<M> {
  let out = q
  for (const f of spec.filters) out = out.where(f.field as never, f.op, f.value as never)
  for (const o of spec.orders) out = out.orderBy(o.field as never, o.dir)
  if (spec.limit !== undefined) out = out.limit(spec.limit)
  if (spec.cursor) out = (out[spec.cursor.kind as 'startAt'] as (v: Json) => Query<M>).call(out, spec.cursor.value)
  return out
}

for (const adapter of adapters) {
  describe(`queries on ${adapter.name} match brute-force evaluation`, () => {
    it('for random data, queries, updates and deletes (property)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(docArb, { minLength: 0, maxLength: 40 }), editArb, fc.array(queryArb, { minLength: 1, maxLength: 6 }), async (docs, edits, queries) => {
          const made = adapter.make()
          const db = await openDatabase({ name: 'prop', models: [Indexed, Unindexed], storage: made.storage })
          try {
            const write = (i: number, doc: object | undefined) =>
              db.run(tx => {
                for (const M of [Indexed, Unindexed]) {
                  if (doc) tx.createOrOverwrite(M, { id: `d${i}`, ...doc })
                  else tx.delete(M.key(`d${i}`))
                }
              })
            for (let i = 0; i < docs.length; i++) await write(i, docs[i])
            for (const e of edits) await write(e.i, e.doc)
            const all: Array<{ id: string; doc: JsonObject }> = (await db.query(Unindexed).fetch()).map(d => ({ id: d.id, doc: d.toJSON() }))
            for (const q of queries) {
              const specQ = build(db.query(Unindexed), q).spec
              const expected = evaluate(all, specQ).map(h => h.id)
              for (const M of [Indexed, Unindexed]) {
                const got = (await build(db.query(M as typeof Indexed), q).fetch()).map(d => d.id)
                expect({ query: specQ, plan: build(db.query(M as typeof Indexed), q).explain(), got }).toEqual({ query: specQ, plan: expect.anything(), got: expected })
                expect(await build(db.query(M as typeof Indexed), q).count()).toBe(expected.length)
              }
            }
          } finally {
            await db.close()
            made.cleanup()
          }
        }),
        { numRuns: adapter.name === 'memory' ? 60 : 25 },
      )
    }, 120_000)

    it('live results stay what a fresh fetch returns, through commits of one or several writes, and their changes say what moved (property)', async () => {
      const commitsArb = fc.array(fc.array(fc.record({ i: fc.nat(15), doc: fc.option(docArb, { nil: undefined }) }), { minLength: 1, maxLength: 3 }), { maxLength: 12 })
      await fc.assert(
        fc.asyncProperty(fc.array(docArb, { maxLength: 16 }), commitsArb, fc.array(queryArb, { minLength: 1, maxLength: 4 }), async (docs, commits, queries) => {
          const made = adapter.make()
          const db = await openDatabase({ name: 'live', models: [Indexed], storage: made.storage })
          const stops: Array<() => void> = []
          try {
            const write = (batch: Array<{ i: number; doc: object | undefined }>) =>
              db.run(tx => {
                // one write per document in a commit: its last
                for (const { i, doc } of [...new Map(batch.map(w => [w.i, w])).values()]) {
                  if (doc) tx.createOrOverwrite(Indexed, { id: `d${i}`, ...doc })
                  else tx.delete(Indexed.key(`d${i}`))
                }
              })
            if (docs.length) await write(docs.map((doc, i) => ({ i, doc })))
            const live = queries.map(q => {
              const state = { ids: undefined as string[] | undefined, bad: [] as string[] }
              stops.push(
                build(db.query(Indexed), q).subscribe(snap => {
                  const next = snap.docs.map(d => d.id)
                  if (state.ids) {
                    // what was there, less what was removed, plus what was added, is what is there now
                    const kept = new Set(state.ids)
                    for (const c of snap.changes) {
                      if (c.type === 'removed') kept.delete(c.doc.id)
                      if (c.type === 'added') kept.add(c.doc.id)
                      if (c.type !== 'removed' && snap.docs[c.newIndex]?.id !== c.doc.id) state.bad.push(`${c.type} ${c.doc.id} not at ${c.newIndex}`)
                    }
                    if ([...kept].sort().join() !== [...next].sort().join()) state.bad.push(`changes ${JSON.stringify(snap.changes.map(c => [c.type, c.doc.id]))} do not turn ${state.ids} into ${next}`)
                  }
                  state.ids = next
                }),
              )
              return { q, state }
            })
            const settled = async () => {
              for (const { q, state } of live) {
                const fetched = (await build(db.query(Indexed), q).fetch()).map(d => d.id)
                await until(`the live query ${JSON.stringify(q)} shows ${fetched}`, () => JSON.stringify(state.ids) === JSON.stringify(fetched))
                expect(state.bad).toEqual([])
              }
            }
            await settled()
            for (const batch of commits) {
              await write(batch)
              await settled()
            }
          } finally {
            for (const stop of stops) stop()
            await db.close()
            made.cleanup()
          }
        }),
        { numRuns: adapter.name === 'memory' ? 40 : 15 },
      )
    }, 120_000)
  })
}

