import { afterEach, beforeEach, describe, it } from 'vitest'
import { describeStorage } from '../../src/testing/storage.js'
import { adapters } from '../helpers/adapters.js'

for (const adapter of adapters) describeStorage(adapter, { describe, it, beforeEach, afterEach })
