import { describe, expect, it } from 'vitest'
import { InvalidOptionsError, Model, S, memoryStorage, openDatabase } from '../../src/index.js'
import { memoryFileStore } from '../../src/files/store.js'

class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = { text: S.str }
}

const open = (extra: Record<string, unknown>) => openDatabase({ name: 'opts', models: [Note], storage: memoryStorage(), ...extra })

describe('sync options', () => {
  it('are checked at open, with errors that say what to pass', async () => {
    await expect(open({ sync: { url: 'ftp://x' } })).rejects.toThrow(/sync needs \{ url: "http\(s\):\/\/…"/)
    await expect(open({ sync: { url: 'http://127.0.0.1:1', token: 'jwt' } })).rejects.toThrow(/sync.token.*must be a function/)
    await expect(open({ sync: { url: 'http://127.0.0.1:1', serviceWorker: 'yes' } })).rejects.toThrow(/sync.serviceWorker.*true or false/)
    await expect(open({ sync: { url: 'http://127.0.0.1:1', serviceWorker: true } })).rejects.toThrow(/service worker pushes from a storage it shares with the page: use indexedDbStorage/)
    await expect(open({ sync: { url: 'http://127.0.0.1:1' }, files: [memoryFileStore()] })).rejects.toThrow(InvalidOptionsError)
  })

  it('a database that syncs with a server has no file sync', async () => {
    const db = await open({ sync: { url: 'http://127.0.0.1:1', socket: false, pollInterval: 60_000 } })
    expect(() => db.files).toThrow(/syncs with a server; a replica syncs either with a server or through files/)
    await db.close()
  })
})
