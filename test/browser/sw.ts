// The test pages' service worker: pushes the outbox of the replica named in its URL.
import { indexedDbStorage } from 'tidepool/indexeddb'
import { syncWorker } from 'tidepool/service-worker'
import { models } from '../../examples/todo/models.js'

syncWorker({ name: 'todo', models, storage: indexedDbStorage(new URL(location.href).searchParams.get('db') ?? 'todo'), sync: { url: location.origin } })
