// The test pages' service worker: pushes the outbox of the replica named in its URL.
import { indexedDbStorage } from 'tidepool/indexeddb'
import { syncWorker } from 'tidepool/service-worker'
import { models } from '../../examples/todo/models.js'

// tests of one origin register workers for different replicas in turn: each takes over at once
// (an app chooses its own update policy; the library does not)
const scope = globalThis as unknown as { skipWaiting(): Promise<void>; clients: { claim(): Promise<void> }; addEventListener(type: string, l: (e: { waitUntil(p: Promise<unknown>): void }) => void): void }
scope.addEventListener('install', e => e.waitUntil(scope.skipWaiting()))
scope.addEventListener('activate', e => e.waitUntil(scope.clients.claim()))

syncWorker({ name: 'todo', models, storage: indexedDbStorage(new URL(location.href).searchParams.get('db') ?? 'todo'), sync: { url: location.origin } })
