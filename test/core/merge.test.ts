import { describe, expect, it } from 'vitest'
import { decodeClock, eventKey, encodeClock, receive, tick, MAX_DRIFT, ZERO } from '../../src/core/hlc.js'
import { fold } from '../../src/core/merge.js'
import type { Op } from '../../src/core/mutation.js'

const T = { collection: 'C', id: 'd' }

describe('hybrid logical clocks', () => {
  it('tick is strictly increasing, even when the wall clock goes back', () => {
    let c = ZERO
    const seen: string[] = []
    for (const now of [1000, 1000, 999, 1200, 5, 1200]) {
      c = tick(c, now)
      seen.push(encodeClock(c))
    }
    expect([...seen].sort()).toEqual(seen)
    expect(new Set(seen).size).toBe(seen.length)
  })

  it('tick moves on a millisecond rather than outgrow the counter\'s digits, so every clock it makes decodes', () => {
    const c = tick({ wall: 5000, counter: 999_999 }, 10)
    expect(c).toEqual({ wall: 5001, counter: 0 })
    expect(decodeClock(encodeClock(c))).toEqual(c)
    expect(encodeClock(c) > encodeClock({ wall: 5000, counter: 999_999 })).toBe(true)
  })

  it('receive moves past a remote clock, but no more than MAX_DRIFT ahead of now, and says so', () => {
    expect(receive({ wall: 10, counter: 0 }, { wall: 50, counter: 3 }, 100)).toEqual({ clock: { wall: 50, counter: 3 }, clamped: false })
    expect(receive({ wall: 10, counter: 0 }, { wall: 100 + MAX_DRIFT + 1, counter: 0 }, 100)).toEqual({ clock: { wall: 100 + MAX_DRIFT, counter: 0 }, clamped: true })
  })

  it('event keys order by clock, then writer, then sequence number', () => {
    const a = encodeClock({ wall: 5, counter: 0 })
    const b = encodeClock({ wall: 5, counter: 1 })
    expect([eventKey(b, 'x', 1), eventKey(a, 'y', 9), eventKey(a, 'x', 10), eventKey(a, 'x', 2)].sort()).toEqual([eventKey(a, 'x', 2), eventKey(a, 'x', 10), eventKey(a, 'y', 9), eventKey(b, 'x', 1)])
  })
})

describe('merge by fold in event order', () => {
  it('a late field write never resurrects a deleted document; a newer create does', () => {
    const create: Op[] = [{ ...T, type: 'create', data: { n: 1 } }]
    const del: Op[] = [{ ...T, type: 'delete' }]
    const set: Op[] = [{ ...T, type: 'set', path: ['n'], value: 5 }]
    expect(fold([create, del, set])).toBeUndefined()
    expect(fold([create, set, del])).toBeUndefined()
    expect(fold([create, del, [{ ...T, type: 'create', data: { n: 2 } }], set])).toEqual({ n: 5 })
  })

  it('a field holds its last set plus the increments after it', () => {
    const ops: Op[][] = [[{ ...T, type: 'create', data: { n: 0 } }], [{ ...T, type: 'increment', path: ['n'], by: 2 }], [{ ...T, type: 'set', path: ['n'], value: 10 }], [{ ...T, type: 'increment', path: ['n'], by: 3 }], [{ ...T, type: 'increment', path: ['n'], by: 4 }]]
    expect(fold(ops)).toEqual({ n: 17 })
  })

  it('skips an op that cannot apply, the same way everywhere', () => {
    expect(fold([[{ ...T, type: 'create', data: { s: 'x' } }], [{ ...T, type: 'increment', path: ['s'], by: 1 }], [{ ...T, type: 'set', path: ['t'], value: 1 }]])).toEqual({ s: 'x', t: 1 })
  })
})
