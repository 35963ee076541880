import { AREAS as FILE_AREAS } from '../files/events.js'
import { FileSync } from '../files/file-sync.js'
import { collectionInfo, type ModelMeta } from '../orm/meta.js'
import { compileModels } from '../orm/model.js'
import { BUILTIN_MODELS } from '../orm/realms.js'
import type { ModelClass } from '../orm/types.js'
import { memoryStorage } from '../replica/memory.js'
import { Replica } from '../replica/replica.js'
import { startSync, type Sync, type SyncOptions, type SyncStatus } from '../sync/index.js'
import { tokenClaims } from '../sync/tokens.js'
import { TabChannel } from '../tabs/channel.js'
import { TABS_AREA } from '../tabs/leader.js'
import { TabSync } from '../tabs/tab-sync.js'
import { Database } from './database.js'
import { checkOptions, debugOptions, type DatabaseOptions } from './options.js'

/** `db.sync` is typed as there when the options had `sync`, and as absent when they had none. */
export type SyncOf<O> = O extends { sync: SyncOptions } ? Sync : 'sync' extends keyof O ? Sync | undefined : undefined

/** Opens (creating where needed) a database on its storage. */
export async function openDatabase<O extends DatabaseOptions>(options: O): Promise<Database<SyncOf<O>>> {
  const { replica, metas, tabs } = await openReplica(options)
  const syncOptions = options.sync
  let sync: Sync | undefined
  let files: FileSync | undefined
  if (syncOptions) {
    await claimUser(replica, syncOptions).catch(async (e: unknown) => {
      tabs?.close()
      await replica.close()
      throw e
    })
    // where tabs share the replica, one of them (the leader) runs the engine
    sync = tabs ? new TabSync(replica, tabs, { start: () => startSync(replica, syncOptions) }) : await startSync(replica, syncOptions)
    const { onProgress } = options
    if (onProgress) {
      let last: SyncStatus['progress']
      sync.subscribe(({ progress }) => {
        if (progress && progress !== last) onProgress({ phase: 'sync', ...progress })
        last = progress
      })
    }
  } else {
    const fileOptions = Array.isArray(options.files) ? { stores: options.files } : (options.files ?? {})
    files = new FileSync(replica, options.name, fileOptions)
    for (const store of fileOptions.stores ?? []) files.link(store)
  }
  return new Database(options.name, replica, metas, options.strictIndexes === true, sync ?? files, tabs) as Database<SyncOf<O>>
}

/**
 * A replica belongs to one user: the token's subject claims it, and a token
 * of another user is refused at open (`WrongUserError`). A token that cannot
 * be had now (offline) leaves it to the first sync.
 */
async function claimUser(replica: Replica, options: SyncOptions): Promise<void> {
  if (!options.token) return
  let sub: string | undefined
  try {
    // a token function that hangs (offline, say) must not hold the database closed: the first sync checks then
    sub = tokenClaims(await withTimeout(Promise.resolve(options.token()), TOKEN_AT_OPEN_MS)).sub
  } catch {
    return
  }
  if (sub !== undefined) await replica.claimUser(sub)
}

/** How long opening waits for the token to learn whose replica it is. */
const TOKEN_AT_OPEN_MS = 3000

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Checks the options and opens the replica for the models: what a database
 * and a sync service worker share. On a storage that tabs share, the
 * replica tells the other tabs about its changes on `tabs`. `withServer`:
 * the replica syncs with a server (so it keeps no file-sync log).
 */
export async function openReplica(
  options: DatabaseOptions,
  withServer = options.sync !== undefined,
): Promise<{ replica: Replica; metas: Map<ModelClass, ModelMeta>; tabs: TabChannel | undefined }> {
  checkOptions(options)
  const metas = compileModels([...BUILTIN_MODELS, ...options.models])
  const storage = options.storage ?? memoryStorage()
  // tabs sharing the storage tell each other their changes, and elect one of them to sync
  const tabs = storage.shared ? new TabChannel(storage.shared.channel) : undefined
  const replica = await Replica.open(storage, {
    collections: [...metas.values()].map(meta => collectionInfo(meta, options.schemaVersion ?? 1)),
    schemaVersion: options.schemaVersion ?? 1,
    // a replica synced with a server keeps no file-sync log; tabs sharing a storage keep their lease in it
    areas: [...(withServer ? [] : Object.values(FILE_AREAS)), ...(storage.shared ? [TABS_AREA] : [])],
    onProgress: options.onProgress,
    debug: debugOptions(options.debug),
    peers: tabs?.notices(),
  }).catch((e: unknown) => {
    tabs?.close()
    throw e
  })
  return { replica, metas, tabs }
}
