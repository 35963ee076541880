import { afterEach, describe, expect, it } from 'vitest'
import { Model, S, memoryStorage, openDatabase } from '../../src/index.js'
import { createServer, type TidepoolServer } from '../../src/server.js'

class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = { text: S.str }
}

/** The window's `online` and `offline` events, which Node's globalThis lacks: an EventTarget stands in while a test runs. */
function browserEvents(): { fire(type: 'online' | 'offline'): void; restore(): void } {
  const target = new EventTarget()
  const g = globalThis as unknown as Record<string, unknown>
  g.addEventListener = target.addEventListener.bind(target)
  g.removeEventListener = target.removeEventListener.bind(target)
  return {
    fire: type => void target.dispatchEvent(new Event(type)),
    restore() {
      delete g.addEventListener
      delete g.removeEventListener
    },
  }
}

describe("the browser's network events", () => {
  let server: TidepoolServer | undefined
  let events: ReturnType<typeof browserEvents> | undefined
  afterEach(async () => {
    events?.restore()
    await server?.close()
  })

  it('says offline as soon as the browser does, and syncs again as soon as it is back', async () => {
    events = browserEvents()
    server = await createServer({ storage: ':memory:', port: 0, models: [Note] })
    const db = await openDatabase({ name: 'net', models: [Note], storage: memoryStorage(), sync: { url: server.url, pollInterval: 0, socket: false } })
    await db.sync.syncNow()
    expect(db.sync.status.phase).toBe('in-sync')
    events.fire('offline')
    // no round ran: the event alone said it
    expect(db.sync.status).toMatchObject({ phase: 'offline', lastError: 'the browser is offline' })
    const back = new Promise<void>(resolve => {
      const stop = db.sync.subscribe(s => s.phase === 'in-sync' && (stop(), resolve()))
    })
    events.fire('online')
    await back
    await db.close()
  })
})
