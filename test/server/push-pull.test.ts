import { afterEach, beforeEach, describe, it } from 'vitest'
import { describeServerStore } from '../../src/testing/server-store.js'
import { postgresAvailable, storeFactories } from './stores.js'

// asked once, before any suite registers: CI must have PostgreSQL, so its absence is said loudly (and its suite skipped)
const postgres = await postgresAvailable()

for (const factory of storeFactories) {
  describeServerStore(factory, { describe: describe.skipIf(factory.name === 'postgres' && !postgres), it, beforeEach, afterEach })
}
