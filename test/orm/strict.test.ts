import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { InvalidOptionsError, InvalidParameterError, model, openDatabase, S } from '../../src/index.js'
import { indexedDbStorage } from '../../src/indexeddb.js'
import { sqliteStorage } from '../../src/sqlite.js'
import { Order, RaceResult } from '../helpers/models.js'

// From plain JavaScript nothing checks option names at compile time: a typo must fail, naming what was meant.
const untyped = <T>(x: unknown) => x as T

describe('strict at runtime', () => {
  it('refuses unknown options of storages, models, sync and files, naming the nearest known one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-strict-'))
    try {
      expect(() => sqliteStorage(join(dir, 'x.db'), untyped({ durabilty: 'strict' }))).toThrow(/sqliteStorage has no option durabilty \(did you mean durability\?\)/)
      expect(() => indexedDbStorage('x', untyped({ fallbak: 'memory' }))).toThrow(/did you mean fallback\?/)
      expect(() => model(untyped<Parameters<typeof model>[0]>({ collection: 'Typo', feilds: { a: S.str } }))).toThrow(/model\(\) has no option feilds \(did you mean fields\?\)/)
      await expect(openDatabase({ name: 'x', models: [], sync: untyped({ url: 'http://127.0.0.1:9', tokn: () => 't' }) })).rejects.toThrow(/sync has no option tokn \(did you mean token\?\)/)
      await expect(openDatabase({ name: 'x', models: [], files: untyped({ intervall: 5 }) })).rejects.toThrow(/files has no option intervall \(did you mean interval\?\)/)
      await expect(openDatabase(untyped<Parameters<typeof openDatabase>[0]>({ name: 'x', models: [], strictIndex: true }))).rejects.toThrow(InvalidOptionsError)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses a key with components the model does not have, saying when it is a field', async () => {
    const db = await openDatabase({ name: 'strict-keys', models: [Order, RaceResult] })
    await expect(db.run(tx => tx.get(Order, untyped({ id: 'a', extra: 1 })))).rejects.toThrow(/Order has no key component extra: its key is \{id\}/)
    expect(() => RaceResult.key(untyped({ raceID: 1, runnerName: 'ann', seconds: 600 }))).toThrow(InvalidParameterError)
    expect(() => RaceResult.key(untyped({ raceID: 1, runnerName: 'ann', seconds: 600 }))).toThrow(/seconds is a field: Model\.data\(\) takes fields too/)
    // what takes fields still does
    expect(RaceResult.data({ raceID: 1, runnerName: 'ann', seconds: 600 }).encodedKey).toBe(RaceResult.key({ raceID: 1, runnerName: 'ann' }).encodedKey)
    await db.close()
  })
})
