import { adapters } from '../helpers/adapters.js'
import { describeStorage } from './storage-conformance.js'

for (const adapter of adapters) describeStorage(adapter)
