import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { applyOp, holds } from '../../src/core/apply.js'
import { deepCopy, type Json, type JsonObject } from '../../src/core/json.js'
import type { Op } from '../../src/core/mutation.js'
import { ConditionFailedError, ModelAlreadyExistsError } from '../../src/index.js'

const t = { collection: 'C', id: 'x' }
const doc: JsonObject = { a: 1, o: { p: 'q', n: { m: 1 } }, arr: [1, 2] }

describe('applyOp', () => {
  it('creates only missing documents', () => {
    expect(applyOp(undefined, { type: 'create', ...t, data: { a: 1 } })).toEqual({ a: 1 })
    expect(() => applyOp(doc, { type: 'create', ...t, data: {} })).toThrow(ModelAlreadyExistsError)
  })

  it('puts replace the listed fields and keep unknown ones', () => {
    expect(applyOp({ a: 1, b: 2, future: 'kept' }, { type: 'put', ...t, data: { a: 5 }, fields: ['a', 'b'] })).toEqual({ a: 5, future: 'kept' })
    expect(applyOp(undefined, { type: 'put', ...t, data: { a: 5 }, fields: ['a'] })).toEqual({ a: 5 })
  })

  it('sets and unsets fields and nested paths, creating intermediate objects', () => {
    expect(applyOp(doc, { type: 'set', ...t, path: ['o', 'n', 'm'], value: 2 })).toMatchObject({ o: { p: 'q', n: { m: 2 } } })
    expect(applyOp(doc, { type: 'set', ...t, path: ['new', 'deep'], value: true })).toMatchObject({ new: { deep: true } })
    expect(applyOp(doc, { type: 'unset', ...t, path: ['o', 'p'] })).toEqual({ a: 1, o: { n: { m: 1 } }, arr: [1, 2] })
    expect(applyOp(doc, { type: 'unset', ...t, path: ['nothing'] })).toBe(doc)
  })

  it('increments (absent counts as 0) and refuses non-numbers', () => {
    expect(applyOp(doc, { type: 'increment', ...t, path: ['a'], by: 2 })).toMatchObject({ a: 3 })
    expect(applyOp(doc, { type: 'increment', ...t, path: ['z'], by: -2 })).toMatchObject({ z: -2 })
    expect(() => applyOp(doc, { type: 'increment', ...t, path: ['o'], by: 1 })).toThrow(/not a number/)
  })

  it('array union adds missing values once; remove drops every equal value', () => {
    expect(applyOp(doc, { type: 'arrayUnion', ...t, path: ['arr'], values: [2, 3, 3] })).toMatchObject({ arr: [1, 2, 3] })
    expect(applyOp({ arr: [{ k: 1 }, 2, { k: 1 }] }, { type: 'arrayRemove', ...t, path: ['arr'], values: [{ k: 1 }] })).toEqual({ arr: [2] })
  })

  it('requires the document to exist for every op but create, put and delete', () => {
    for (const op of [
      { type: 'set', ...t, path: ['a'], value: 1 },
      { type: 'unset', ...t, path: ['a'] },
      { type: 'increment', ...t, path: ['a'], by: 1 },
      { type: 'arrayUnion', ...t, path: ['a'], values: [] },
      { type: 'arrayRemove', ...t, path: ['a'], values: [] },
    ] satisfies Op[]) {
      expect(() => applyOp(undefined, op)).toThrow(ConditionFailedError)
    }
    expect(applyOp(undefined, { type: 'delete', ...t })).toBeUndefined()
  })

  const json: fc.Arbitrary<Json> = fc.jsonValue() as fc.Arbitrary<Json>
  const path = fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 3 })
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ type: fc.constant('set' as const), path, value: json }).map(o => ({ ...t, ...o })),
    fc.record({ type: fc.constant('unset' as const), path }).map(o => ({ ...t, ...o })),
    fc.record({ type: fc.constant('put' as const), data: fc.dictionary(fc.constantFrom('a', 'b', 'c'), json), fields: fc.constant(['a', 'b'] as string[]) }).map(o => ({ ...t, ...o })),
  )
  const docArb = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), json) as fc.Arbitrary<JsonObject>

  it('never changes its input (property)', () => {
    fc.assert(
      fc.property(docArb, op, (d, o) => {
        const before = deepCopy(d)
        try {
          applyOp(d, o)
        } catch {
          // type errors on non-object intermediates are fine; mutation is not
        }
        expect(d).toEqual(before)
      }),
    )
  })

  it('a set is read back by an equals precondition (property)', () => {
    fc.assert(
      fc.property(docArb, path, json, (d, p, v) => {
        let out: JsonObject | undefined
        try {
          out = applyOp(d, { type: 'set', ...t, path: p, value: v })
        } catch {
          return
        }
        expect(holds(out, { type: 'equals', ...t, path: p, value: v })).toBe(true)
      }),
    )
  })

  it('increments commute (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 10 }), incs => {
        const run = (xs: number[]) => xs.reduce<JsonObject | undefined>((d, by) => applyOp(d, { type: 'increment', ...t, path: ['n'], by }), { n: 0 })
        expect(run(incs)).toEqual(run([...incs].reverse()))
      }),
    )
  })
})

describe('preconditions', () => {
  it('check existence, equality, absence, defaults and ifExists', () => {
    expect(holds(doc, { type: 'exists', ...t })).toBe(true)
    expect(holds(undefined, { type: 'missing', ...t })).toBe(true)
    expect(holds(doc, { type: 'equals', ...t, path: ['o'], value: { n: { m: 1 }, p: 'q' } })).toBe(true)
    expect(holds(doc, { type: 'equals', ...t, path: ['a'], value: 2 })).toBe(false)
    expect(holds(doc, { type: 'equals', ...t, path: ['gone'] })).toBe(true)
    expect(holds(doc, { type: 'equals', ...t, path: ['gone'], value: 5, orAbsent: true })).toBe(true)
    expect(holds(undefined, { type: 'equals', ...t, path: ['a'], value: 1 })).toBe(false)
    expect(holds(undefined, { type: 'equals', ...t, path: ['a'], value: 1, ifExists: true })).toBe(true)
  })
})

describe('documents holding a __proto__ key', () => {
  it('keep it as data through set, put and copies', () => {
    const doc = JSON.parse('{"__proto__": {"x": 1}, "a": 1}') as JsonObject
    const set = applyOp(doc, { type: 'set', ...t, path: ['__proto__', 'x'], value: 2 })!
    expect(Object.getPrototypeOf(set)).toBe(Object.prototype)
    expect(JSON.stringify(set)).toBe('{"__proto__":{"x":2},"a":1}')
    const put = applyOp(doc, { type: 'put', ...t, data: JSON.parse('{"__proto__": 5}') as JsonObject, fields: ['__proto__'] })!
    expect(JSON.stringify(put)).toBe('{"a":1,"__proto__":5}')
    expect(JSON.stringify(deepCopy(doc))).toBe(JSON.stringify(doc))
  })
})
