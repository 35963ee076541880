import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { AUDITOR, freshReplicaMismatches, fuzzRequest, SECRET, send, type FuzzOutcome } from '../helpers/fuzz.js'
import { postgresAvailable, storeFactories } from './stores.js'

/** Requests per store in `npm test`; `npm run fuzz` sends many more. */
const RUNS = Number(process.env.TIDEPOOL_FUZZ_RUNS ?? 150)

let postgres = false
beforeAll(async () => {
  postgres = await postgresAvailable()
})

for (const factory of storeFactories) {
  describe(`hostile requests against a server on ${factory.name}`, () => {
    let server: TidepoolServer
    let made: ReturnType<typeof factory.make>
    const outcome: FuzzOutcome = { statuses: new Map(), accepted: [] }
    beforeAll(async () => {
      if (factory.name === 'postgres' && !postgres) return
      made = factory.make()
      server = await createServer({ storage: made.store, port: 0, auth: { secret: SECRET }, admins: [AUDITOR] })
    })
    afterAll(async () => {
      await server?.close()
      await made?.cleanup()
    })

    it(`answers ${RUNS} structure-aware hostile pushes and pulls below 500, stays up, and a fresh replica syncs what it accepted exactly`, { timeout: 600_000 }, async c => {
      if (factory.name === 'postgres' && !postgres) return c.skip()
      await fc.assert(
        fc.asyncProperty(fuzzRequest, async r => {
          const status = await send(server.url, r, outcome)
          expect(status, `${r.path} ${r.body.slice(0, 200)}`).toBeLessThan(500)
        }),
        { numRuns: RUNS },
      )
      expect(await send(server.url, { path: '/health', body: '', contentType: 'application/json', token: 'good' }, outcome)).toBe(200)
      expect(outcome.accepted.length).toBeGreaterThan(RUNS / 40)
      expect(await freshReplicaMismatches(server.url, outcome.accepted)).toEqual([])
      expect([...outcome.statuses.keys()].every(s => s < 500)).toBe(true)
      console.log(`${factory.name}: ${RUNS} requests, answers ${[...outcome.statuses].sort().map(([s, n]) => `${s}×${n}`).join(' ')}, ${outcome.accepted.length} lone creates synced back exactly`)
    })
  })
}
