import { postgresServerStore } from './postgres-store.js'
import { sqliteServerStore } from './sqlite-store.js'
import type { ServerStore } from './store.js'

/** The store `where` names: a `postgres://` URL (its `schema` parameter names the schema), or a SQLite file. */
export function openServerStore(where: string): ServerStore {
  if (/^postgres(ql)?:\/\//.test(where)) {
    const url = new URL(where)
    const schema = url.searchParams.get('schema') ?? undefined
    url.searchParams.delete('schema')
    return postgresServerStore(url.toString(), schema ? { schema } : {})
  }
  return sqliteServerStore(where)
}
