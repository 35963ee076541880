import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { DocumentChange } from '../../src/protocol/messages.js'
import { changesJson, keepJson, namesString } from '../../src/server/stored-json.js'

const key = fc.constantFrom('realmId', 'realm', 'realmId2', 'r"ealmId', 'x', '')
const object = fc.dictionary(key, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 })

describe('stored document JSON', () => {
  it('finds a top-level string key only, whatever is nested or quoted', () => {
    expect(namesString('{"id":"a","realmId":"r"}', 'realmId')).toBe(true)
    expect(namesString('{"id":"a", "realmId" : "r"}', 'realmId')).toBe(true)
    expect(namesString('{"id":"a","realmId":1}', 'realmId')).toBe(false)
    expect(namesString('{"nested":{"realmId":"r"}}', 'realmId')).toBe(false)
    expect(namesString('{"list":[{"realmId":"r"}],"x":"\\"realmId\\":\\"r\\""}', 'realmId')).toBe(false)
    expect(namesString('{"realmId2":"r"}', 'realmId')).toBe(false)
    fc.assert(
      fc.property(object, fc.boolean(), (o, spaced) => {
        const text = spaced ? JSON.stringify(o, null, 1) : JSON.stringify(o)
        expect(namesString(text, 'realmId')).toBe(typeof o.realmId === 'string')
      }),
    )
  })

  it('writes changes with stored document text as JSON.stringify writes them parsed', () => {
    const change = fc.oneof(
      fc.record({ collection: fc.string(), id: fc.string(), revision: fc.nat(), doc: object }),
      fc.record({ collection: fc.string(), id: fc.string(), revision: fc.nat(), deleted: fc.constant(true as const) }),
      fc.record({ collection: fc.string(), id: fc.string(), revision: fc.nat(), set: object, unset: fc.array(fc.string()) }),
    )
    fc.assert(
      fc.property(fc.array(fc.tuple(change, fc.boolean())), list => {
        const changes = list.map(([c, stored]) => {
          if (!stored || !('doc' in c)) return c as DocumentChange
          // the stored text stands for the document: the object need not be read
          const { doc, ...rest } = c
          const lazy = { ...rest } as DocumentChange
          Object.defineProperty(lazy, 'doc', { enumerable: true, get: () => expect.unreachable('the stored text is used') })
          keepJson(lazy, JSON.stringify(doc, null, 1))
          return lazy
        })
        expect(JSON.parse(changesJson(changes))).toEqual(JSON.parse(JSON.stringify(list.map(([c]) => c))))
      }),
    )
  })
})
