import { describe, expect, it } from 'vitest'
import { applyOp } from '../../src/core/apply.js'
import { assertMutation } from '../../src/core/commit.js'
import type { Json } from '../../src/core/json.js'
import type { Op } from '../../src/core/mutation.js'
import { MAX_DEPTH, MAX_ID_BYTES, MAX_MUTATION_BYTES, utf8Length, valueIssue, wellFormed } from '../../src/core/values.js'
import { InvalidParameterError, Model, S, ValidationError, openDatabase } from '../../src/index.js'

const nest = (levels: number): Json => {
  let v: Json = 'leaf'
  for (let i = 0; i < levels; i++) v = i % 2 ? [v] : { x: v }
  return v
}

describe('the value rules', () => {
  it('allow JSON values up to the depth limit, and refuse deeper ones without overflowing the stack', () => {
    expect(valueIssue(nest(MAX_DEPTH))).toBeUndefined()
    expect(valueIssue(nest(MAX_DEPTH + 1))?.reason).toMatch(/nests deeper than 32/)
    expect(valueIssue(nest(100_000))?.reason).toMatch(/nests deeper/)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(valueIssue(cyclic)?.reason).toMatch(/cycle/)
  })

  it('refuse lone surrogates in strings and keys, non-finite numbers, and keys JSON parsers refuse', () => {
    expect(valueIssue({ ok: 'a😀b' })).toBeUndefined()
    expect(valueIssue({ s: 'a\ud800' })).toEqual({ path: 's', reason: expect.stringMatching(/lone surrogate/) })
    expect(valueIssue({ ['\udc00']: 1 })?.reason).toMatch(/lone surrogate/)
    expect(valueIssue({ n: [1, Infinity] })).toEqual({ path: 'n.1', reason: 'Infinity is not a finite number' })
    expect(valueIssue(JSON.parse('{"m": {"__proto__": {"x": 1}}}'))).toEqual({ path: 'm.__proto__', reason: expect.stringMatching(/__proto__ is not allowed/) })
    expect(valueIssue({ constructor: { prototype: {} } })?.reason).toMatch(/constructor key holding a prototype/)
    expect(valueIssue({ constructor: 'a word like any other' })).toBeUndefined()
    expect(valueIssue(new Date())?.reason).toMatch(/not a plain object/)
  })

  it('count UTF-8 bytes', () => {
    for (const s of ['', 'abc', 'ü', '€', '😀', 'a\u0000b', 'ﬀ\uffff']) expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length)
    expect(wellFormed('😀')).toBe(true)
    expect(wellFormed('\ud83d')).toBe(false)
  })

  it('check every op of a mutation: names, ids, paths, values and its size', () => {
    const op = (o: Partial<Op>): Op[] => [{ type: 'set', collection: 'Note', id: 'n', path: ['text'], value: 'x', ...o } as Op]
    expect(() => assertMutation(op({}), [])).not.toThrow()
    expect(() => assertMutation(op({ collection: 'No\u0000te' }), [])).toThrow(/not a collection name/)
    expect(() => assertMutation(op({ id: 'a\ud800' }), [])).toThrow(/lone surrogate/)
    expect(() => assertMutation(op({ id: 'x'.repeat(MAX_ID_BYTES + 1) }), [])).toThrow(/longer than 1024 bytes/)
    expect(() => assertMutation(op({ path: ['__proto__'] }), [])).toThrow(ValidationError)
    expect(() => assertMutation(op({ path: ['a', 'b'], value: nest(MAX_DEPTH - 1) }), [])).toThrow(/nests deeper/)
    expect(() => assertMutation([{ type: 'increment', collection: 'Note', id: 'n', path: ['n'], by: Number.NaN }], [])).toThrow(/finite/)
    expect(() => assertMutation([{ type: 'create', collection: 'Note', id: 'n', data: { id: 'n', big: 'é'.repeat(MAX_MUTATION_BYTES / 2) } }], [])).toThrow(/bytes in UTF-8, more than/)
    expect(() => assertMutation([], [{ type: 'equals', collection: 'Note', id: 'n', path: ['s'], value: 'a\udc00' }])).toThrow(/lone surrogate/)
  })

  it('refuse an increment whose sum is not a finite number', () => {
    expect(() => applyOp({ n: 1e308 }, { type: 'increment', collection: 'C', id: 'c', path: ['n'], by: 1e308 })).toThrow(/not a finite number/)
    expect(applyOp({ n: 1 }, { type: 'increment', collection: 'C', id: 'c', path: ['n'], by: 2 })).toEqual({ n: 3 })
  })
})

class Doc extends Model {
  static override COLLECTION = 'Doc'
  static override FIELDS = { n: S.double.default(0), tags: S.map.optional(), deep: S.obj().optional() }
}

describe('a transaction that breaks the value rules', () => {
  it('fails at commit with a ValidationError naming the path, and commits nothing', async () => {
    const db = await openDatabase({ name: 'rules', models: [Doc] })
    await db.run(tx => void tx.create(Doc, { id: 'd', n: 1e308 }))
    await expect(db.run(async tx => (await tx.get(Doc, 'd'))!.getField('n').incrementBy(1e308))).rejects.toThrow(/not a finite number/)
    await expect(db.run(async tx => void ((await tx.get(Doc, 'd'))!.tags = JSON.parse('{"__proto__": 1}')))).rejects.toThrow(/tags.__proto__: the key __proto__ is not allowed/)
    await expect(db.run(async tx => void ((await tx.get(Doc, 'd'))!.deep = nest(40) as object))).rejects.toThrow(/deep.*nests deeper/)
    await expect(db.run(tx => void tx.create(Doc, { id: 'lone\ud800' }))).rejects.toThrow(/id: holds a lone surrogate/)
    expect(() => Doc.key('x'.repeat(2000))).toThrow(InvalidParameterError)
    expect((await db.run(tx => tx.get(Doc, 'd')))!.toJSON()).toEqual({ id: 'd', n: 1e308 })
    expect(await db.pendingMutations()).toHaveLength(1)
    await db.close()
  })
})
