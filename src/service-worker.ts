// tidepool/service-worker: the service worker's side of `sync: { serviceWorker: true }`.
import { openReplica } from './database/open.js'
import type { DatabaseOptions } from './database/options.js'
import { SyncEngine } from './sync/engine.js'
import { httpTransport } from './sync/transport.js'
import { workerPushTag } from './sync/worker-push.js'
import { InvalidOptionsError } from './core/errors.js'

/**
 * What `syncWorker` takes: the pages' database options (the same name,
 * models, storage and schema version) and the server to push to.
 */
export type SyncWorkerOptions = Pick<DatabaseOptions, 'name' | 'models' | 'storage' | 'schemaVersion'> & {
  sync: {
    /** The Tidepool server, as the pages' `sync.url`. */
    url: string
    /** Returns the bearer token (a JWT), as the pages' `sync.token` does; asked again after a 401. */
    token?: () => string | Promise<string>
  }
}

interface ExtendableEventLike extends Event {
  waitUntil(p: Promise<unknown>): void
}

/**
 * Call at the top level of a service worker script: the worker pushes the
 * outbox of the replica that the app's pages share whenever a page commits
 * (it sends a message) and whenever the browser fires Background Sync (also
 * after every page is closed, once the network is back). A failed push
 * rejects the Background Sync event, so the browser tries again later.
 * Exactly once as ever: the server recognises mutations it already applied.
 */
export function syncWorker(options: SyncWorkerOptions): void {
  const storage = options.storage
  if (!storage?.shared) throw new InvalidOptionsError('storage', 'syncWorker needs the storage the pages use (indexedDbStorage with the same name)')
  const tag = workerPushTag(storage.shared.channel)
  let engine: Promise<{ engine: SyncEngine }> | undefined

  const open = () =>
    (engine ??= openReplica({ name: options.name, models: options.models, storage, schemaVersion: options.schemaVersion }, true).then(({ replica, tabs }) => {
      // one round per ask, no timers of its own: the browser's Background Sync retries a failed one
      const e = new SyncEngine(replica, httpTransport(options.sync.url, options.sync.token), { pollInterval: 0, retry: false })
      // the pages hear the verdicts, as they would from their own leader
      e.onSettled(result => tabs?.post({ type: 'result', id: result.id, result }))
      e.onRejected(rejection => tabs?.post({ type: 'rejected', rejection }))
      return { engine: e }
    }).catch((e: unknown) => {
      // open again next time (the storage may have been blocked or busy)
      engine = undefined
      throw e
    }))
  // rounds take turns in the engine: one asked for during a round runs after it
  const push = async (): Promise<void> => (await open()).engine.runRound()

  const scope = globalThis as unknown as { addEventListener(type: string, listener: (e: ExtendableEventLike & { data?: unknown; tag?: string }) => void): void }
  scope.addEventListener('message', e => {
    if ((e.data as { type?: string } | null)?.type === tag) e.waitUntil(push().catch(() => undefined))
  })
  scope.addEventListener('sync', e => {
    if (e.tag === tag) e.waitUntil(push())
  })
}
