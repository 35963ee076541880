import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryStorage, model, openDatabase, S, type Database, type JsonObject } from '../../src/index.js'
import { serveCli } from '../helpers/cli-server.js'

// Version 1 of the app, and version 2: a required colour, filled in for older documents by a migration
class ItemV1 extends model({ collection: 'Item', fields: { name: S.str, size: S.int } }) {}
class ItemV2 extends model({ collection: 'Item', fields: { name: S.str, size: S.int, colour: S.str.enum('red', 'blue') } }) {
  static override MIGRATIONS = { 2: (doc: JsonObject) => ({ ...doc, colour: 'red' }) }
}

// what `tidepool serve --models` loads: version 2's models, as the deployed server has them
const MODELS = `import { model, S } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'index.js')).href)}
export class Item extends model({ collection: 'Item', fields: { name: S.str, size: S.int, colour: S.str.enum('red', 'blue') } }) {
  static MIGRATIONS = { 2: doc => ({ ...doc, colour: 'red' }) }
}
export const schemaVersion = 2
`

let child: ChildProcess
let url: string
let dir: string
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tidepool-rollout-'))
  writeFileSync(join(dir, 'models.mjs'), MODELS)
  ;({ child, url } = await serveCli(join(dir, 'server.db'), 0, ['--models', join(dir, 'models.mjs')]))
})
afterAll(async () => {
  const exited = new Promise(r => child.once('exit', r))
  child.kill('SIGTERM')
  await exited
  rmSync(dir, { recursive: true, force: true })
})

const open = (models: [typeof ItemV1] | [typeof ItemV2], schemaVersion: number) =>
  openDatabase({ name: `v${schemaVersion}`, models, storage: memoryStorage(), schemaVersion, sync: { url, socket: false, pollInterval: 3_600_000 } })

/** Every document as the app reads it, each field checked against the type its model declares. */
async function readAll(db: Database, Item: typeof ItemV1 | typeof ItemV2): Promise<Record<string, JsonObject>> {
  const docs = await db.query(Item).fetch()
  for (const d of docs) {
    expect(typeof d.name).toBe('string')
    expect(Number.isInteger(d.size)).toBe(true)
    if (Item === ItemV2) expect(['red', 'blue']).toContain((d as InstanceType<typeof ItemV2>).colour)
  }
  return Object.fromEntries(docs.map(d => [d._id, d.toJSON()]))
}

describe('a rollout: apps of versions 1 and 2 on one server', () => {
  it('write and read the same documents: no field is lost, no document is read with a type its model does not declare', async () => {
    const v1 = await open([ItemV1], 1)
    const v2 = await open([ItemV2], 2)
    try {
      await v1.run(tx => void tx.create(ItemV1, { id: 'old', name: 'kettle', size: 1 }))
      await v1.sync!.syncNow()
      await v2.sync!.syncNow()
      // version 2 reads version 1's document through its migration
      expect((await readAll(v2, ItemV2)).old).toMatchObject({ name: 'kettle', size: 1, colour: 'red' })

      await v2.run(async tx => {
        ;(await tx.get(ItemV2, 'old'))!.size = 2
        tx.create(ItemV2, { id: 'new', name: 'teapot', size: 3, colour: 'blue' })
      })
      await v2.sync!.syncNow()
      await v1.sync!.syncNow()
      // version 1 reads both (colour is a field it does not know), and keeps colour when it writes
      expect(await readAll(v1, ItemV1)).toEqual({
        old: { id: 'old', name: 'kettle', size: 2, colour: 'red', realmId: 'anonymous' },
        new: { id: 'new', name: 'teapot', size: 3, colour: 'blue', realmId: 'anonymous' },
      })
      await v1.run(async tx => {
        ;(await tx.get(ItemV1, 'new'))!.size = 4
        tx.create(ItemV1, { id: 'later', name: 'cup', size: 5 })
      })
      await v1.sync!.syncNow()
      expect(await v1.rejections()).toEqual([])
      await v2.sync!.syncNow()
      expect(await readAll(v2, ItemV2)).toEqual({
        old: { id: 'old', name: 'kettle', size: 2, colour: 'red', realmId: 'anonymous' },
        new: { id: 'new', name: 'teapot', size: 4, colour: 'blue', realmId: 'anonymous' },
        later: { id: 'later', name: 'cup', size: 5, colour: 'red', realmId: 'anonymous' },
      })
    } finally {
      await v1.close()
      await v2.close()
    }
  })

  it('the server checks each document as version 2 reads it: a version-2 document without its colour is refused', async () => {
    const v2 = await open([ItemV2], 2)
    try {
      await v2.run(tx => void tx.create(ItemV2, { id: 'bad', name: 'x', size: 1, colour: 'blue' }))
      // a write that version 2's own checks would catch, committed beneath them as a buggy client would
      const replica = (v2 as unknown as { replica: { commit: (ops: unknown[], pcs: unknown[]) => Promise<unknown> } }).replica
      await replica.commit([{ type: 'unset', collection: 'Item', id: 'bad', path: ['colour'] }], [])
      await v2.sync!.syncNow()
      const [rejection] = await v2.rejections()
      expect(rejection?.reason).toBe('invalid')
      expect(rejection?.message).toMatch(/colour: is required/)
    } finally {
      await v2.close()
    }
  })
})
