import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { eventKey, encodeClock } from '../../src/core/hlc.js'
import { compact, fold, type DocEvent } from '../../src/core/merge.js'
import type { Op } from '../../src/core/mutation.js'
import type { Json } from '../../src/core/json.js'

const T = { collection: 'C', id: 'd' }
const paths = [['x'], ['y'], ['a'], ['a', 'b'], ['a', 'c'], ['t']]
const value: fc.Arbitrary<Json> = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('s', 'u'), fc.constant<Json>({ b: 1 }), fc.constant<Json>([1]), fc.constant(null))
const data = fc.dictionary(fc.constantFrom('x', 'y', 'a', 't'), value, { maxKeys: 3 })
const op: fc.Arbitrary<Op> = fc.oneof(
  data.map(d => ({ ...T, type: 'create' as const, data: d })),
  fc.tuple(data, fc.subarray(['x', 'y', 'a', 't'])).map(([d, f]) => ({ ...T, type: 'put' as const, data: d, fields: f })),
  fc.constant({ ...T, type: 'delete' as const }),
  fc.tuple(fc.constantFrom(...paths), value).map(([path, v]) => ({ ...T, type: 'set' as const, path, value: v })),
  fc.constantFrom(...paths).map(path => ({ ...T, type: 'unset' as const, path })),
  fc.tuple(fc.constantFrom(...paths), fc.integer({ min: 1, max: 9 })).map(([path, by]) => ({ ...T, type: 'increment' as const, path, by })),
  fc.tuple(fc.constantFrom(...paths), fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 })).map(([path, values]) => ({ ...T, type: 'arrayUnion' as const, path, values })),
  fc.tuple(fc.constantFrom(...paths), fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 })).map(([path, values]) => ({ ...T, type: 'arrayRemove' as const, path, values })),
)

interface Written extends DocEvent {
  client: string
}

/** One document's events from three clients, each client's in its own clock order (as every client's are). */
const history = fc.array(fc.tuple(fc.constantFrom('A', 'B', 'C'), fc.integer({ min: 1, max: 60 }), fc.array(op, { minLength: 1, maxLength: 3 })), { maxLength: 30 }).map(rows => {
  const seq = new Map<string, number>()
  return rows
    .map(([client, wall, ops]) => ({ client, wall, ops }))
    .sort((a, b) => a.wall - b.wall)
    .map(({ client, wall, ops }, i): Written => {
      const n = (seq.get(client) ?? 0) + 1
      seq.set(client, n)
      return { client, key: eventKey(encodeClock({ wall, counter: i }), client, n), ops }
    })
})

const inOrder = (events: DocEvent[]) => [...new Map(events.map(e => [e.key, e])).values()].sort((a, b) => (a.key < b.key ? -1 : 1))
const folded = (events: DocEvent[]) => fold(inOrder(events).map(e => e.ops))

describe('compacting a document\'s events', () => {
  it('keeps the last set per field, the increments after it, and the newest create or delete', () => {
    const events: DocEvent[] = [
      { key: '1', ops: [{ ...T, type: 'create', data: { n: 0 } }] },
      { key: '2', ops: [{ ...T, type: 'increment', path: ['n'], by: 2 }, { ...T, type: 'set', path: ['m'], value: 1 }] },
      { key: '3', ops: [{ ...T, type: 'set', path: ['n'], value: 10 }] },
      { key: '4', ops: [{ ...T, type: 'increment', path: ['n'], by: 3 }] },
      { key: '5', ops: [{ ...T, type: 'set', path: ['m'], value: 2 }] },
    ]
    expect(compact(events).map(e => e.key)).toEqual(['1', '3', '4', '5'])
    expect(compact([...events, { key: '6', ops: [{ ...T, type: 'delete' }] }])).toEqual([{ key: '6', ops: [{ ...T, type: 'delete' }] }])
  })

  it('folds to the same document as everything, whatever the other clients wrote, in whatever order it arrives (property)', () => {
    fc.assert(
      fc.property(history, fc.subarray(['A', 'B', 'C']), fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }), fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }), (events, checkpointed, late, alreadyHad) => {
        const whole = folded(events)
        // the replica's own log, compacted
        expect(folded(compact(events))).toEqual(whole)
        // some clients hand their events over as checkpoints; a reader may already hold some of the events a checkpoint covers
        const handed = ['A', 'B', 'C'].flatMap(c => {
          const own = events.filter(e => e.client === c)
          return checkpointed.includes(c) ? [...compact(own), ...own.filter((_, i) => alreadyHad[i])] : own
        })
        expect(folded(handed)).toEqual(whole)
        // a replica that compacted what it had, then hears of events written long before (a client that was offline)
        const early = events.filter((_, i) => !late[i])
        expect(folded([...compact(inOrder(early)), ...events.filter((_, i) => late[i])])).toEqual(whole)
        // compacting again changes nothing
        expect(compact(compact(events))).toEqual(compact(events))
      }),
      { numRuns: 3000 },
    )
  })
})
