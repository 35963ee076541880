import { shapeSchema } from './core/schema.js'
import { metaOf } from './orm/meta.js'
import { readerOf } from './orm/migrations.js'
import type { ModelClass } from './orm/types.js'
import { loadWithPeers } from './core/peer.js'
import type * as App from './server/app.js'
import type { ServerOptions as SchemaServerOptions, TidepoolServer } from './server/app.js'
import type { CollectionSchema } from './server/validate-schemas.js'

export type { TidepoolServer } from './server/app.js'
export { sqliteServerStore } from './server/sqlite-store.js'
export { openServerStore } from './server/open-store.js'
export { postgresServerStore, type PostgresStoreOptions } from './server/postgres-store.js'
export type { ServerStore, ServerTx, StoreTx, ServerDoc, FieldMeta, ClientRow, PullData, Committed, CommitChannel, Compaction, Viewer } from './server/store.js'
export type { AuthOptions, TokenRules } from './server/auth.js'
export type { LoadLimits } from './server/load.js'
export type { CollectionSchema } from './server/validate-schemas.js'
export * from './protocol/messages.js'
export { opSchema, REQUEST_SCHEMAS } from './protocol/schemas.js'

/** What `createServer` takes: the server's settings, and the app's models to validate writes with. */
export interface ServerOptions extends SchemaServerOptions {
  /** The app's models: writes are validated with their schemas. Without them (or `schemas`) only the structure of mutations is checked. */
  models?: ModelClass[]
  /**
   * The app schema version the models are (default: the highest version
   * their MIGRATIONS lead to, else 1). Documents written by older apps are
   * checked as these models read them, through their migrations.
   */
  schemaVersion?: number
}

/** The HTTP and WebSocket server's packages: optional peers, so that a browser app's install never pulls a server framework. */
const SERVER_PEERS = ['fastify', '@fastify/static', 'jose', 'prom-client']
const app: typeof App = await loadWithPeers(() => import('./server/app.js'), SERVER_PEERS, 'tidepool/server')

/** Starts a Tidepool sync server. */
export async function createServer(options: ServerOptions = {}): Promise<TidepoolServer> {
  const { models, schemaVersion, ...rest } = options
  return app.createServer(models?.length ? { ...rest, schemas: [...(rest.schemas ?? []), ...schemasOf(models, schemaVersion)] } : rest)
}

/**
 * What the server checks writes against, from model classes of app schema
 * `version`: each document's schema (as the replicas check it), its
 * read-only fields, and how the models read documents of other versions.
 */
export function schemasOf(models: readonly ModelClass[], version = Math.max(1, ...models.flatMap(cls => metaOf(cls).migrations.map(([v]) => v)))): CollectionSchema[] {
  return models.map(cls => {
    const meta = metaOf(cls)
    const key = Object.fromEntries(Object.keys(cls.KEY).map(name => [name, meta.keyChecks[name]!.schema]))
    const fields = Object.fromEntries(meta.fieldNames.map(name => [name, meta.fields[name]!.schema]))
    return {
      collection: meta.collection,
      // the key in declaration order, as the model's own document check has it, so the same issue is reported first
      schema: shapeSchema({ ...key, ...fields }, true),
      readOnly: meta.fieldNames.filter(name => meta.fields[name]!.schema.isReadOnly),
      version,
      read: readerOf(meta, version),
    }
  })
}
