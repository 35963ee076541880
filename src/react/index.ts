import { createContext, createElement, useContext, useMemo, useSyncExternalStore, type DependencyList, type ReactNode } from 'react'
import { InvalidParameterError } from '../core/errors.js'
import type { SyncStatus } from '../core/syncer.js'
import { syncerOf, type Database } from '../database/database.js'
import type { Query, Snapshot } from '../orm/query.js'
import type { Instance, KeyInput, ModelClass } from '../orm/types.js'
import type { Rejection } from '../replica/replica.js'
import { LiveValue } from './live-value.js'

/**
 * React bindings: `<TidepoolProvider db={db}>` above the components, and
 * hooks that keep a component on a live result. Each hook is built on
 * `useSyncExternalStore`, so a component re-renders only when its result
 * changed, never tears under concurrent rendering, and on the server (or
 * before the first result) renders its loading state (`undefined`) without
 * touching storage.
 */

const DatabaseContext = createContext<Database | undefined>(undefined)

/** Makes `db` the database of the hooks in the components below it (`useDatabase()`). */
export function TidepoolProvider(props: { db: Database; children?: ReactNode }): ReactNode {
  return createElement(DatabaseContext.Provider, { value: props.db }, props.children)
}

/** The database of the nearest `<TidepoolProvider>`. */
export function useDatabase(): Database {
  const db = useContext(DatabaseContext)
  if (!db) throw new InvalidParameterError('db', 'no <TidepoolProvider db={db}> above this component')
  return db
}

const loading = (): undefined => undefined

/**
 * A live query: the snapshot (`docs`, `changes`, `metadata`) once it is
 * read, `undefined` while it loads. `query` makes the query
 * (`() => db.query(Todo).where('list', '==', id)`); it is made again, and
 * its result read again, when a value in `deps` changes.
 */
export function useQuery<M extends ModelClass>(query: () => Query<M>, deps: DependencyList): Snapshot<M> | undefined {
  // the query is made when a component subscribes, so a server render never runs it; the caller names its inputs in deps
  const live = useMemo(() => new LiveValue<Snapshot<M>>(set => query().subscribe(set)), deps)
  return useSyncExternalStore(live.subscribe, live.get, loading)
}

/** One document, live: the document, `null` when there is none, `undefined` while it loads. */
export function useDoc<M extends ModelClass>(model: M, key: KeyInput<M>): Readonly<Instance<M>> | null | undefined {
  const db = useDatabase()
  const id = JSON.stringify(key)
  // the key by value: a literal compound key is a new object on every render
  const live = useMemo(() => new LiveValue<Readonly<Instance<M>> | null>(set => db.watch(model, key, doc => set(doc ?? null))), [db, model, id])
  return useSyncExternalStore(live.subscribe, live.get, loading)
}

/** The database's sync status (a server's, or file sync's), live; `undefined` for a database that does not sync, and on the server. */
export function useSyncStatus(): SyncStatus | undefined {
  const db = useDatabase()
  const live = useMemo(() => {
    const syncer = syncerOf(db)
    return syncer && new LiveValue<SyncStatus>(set => syncer.subscribe(set))
  }, [db])
  return useSyncExternalStore(live?.subscribe ?? noSubscription, live?.get ?? loading, loading)
}

/**
 * The mutations the server rejected and this replica keeps until they are
 * acknowledged, live: read again after each rejection, and after each
 * `ack()` made through this list. `undefined` while they load.
 */
export function useRejections(): Array<Rejection & {
  /** Forgets the rejection, as `db.rejections()`'s `ack()` does; the list is then read again. */
  ack(): Promise<void>
}> | undefined {
  const db = useDatabase()
  const live = useMemo(
    () =>
      new LiveValue<Array<Rejection & { ack(): Promise<void> }>>(set => {
        let open = true
        const read = (): void =>
          void db.rejections().then(
            rs => open && set(rs.map(r => ({ ...r, ack: () => r.ack().then(read) }))),
            () => undefined,
          )
        const stop = db.on('rejected', read)
        read()
        return () => {
          open = false
          stop()
        }
      }),
    [db],
  )
  return useSyncExternalStore(live.subscribe, live.get, loading)
}

const noSubscription = () => () => undefined

/** The one syncer a database holds: its server sync, or its file sync. */
