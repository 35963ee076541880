#!/usr/bin/env node
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { InvalidOptionsError } from '../core/errors.js'
import { Model } from '../orm/model.js'
import type { ModelClass } from '../orm/types.js'
import type { ServerOptions } from '../server.js'
import { files } from './files.js'

const USAGE = `Usage: tidepool serve [options]
       tidepool compact --db <where> --keep <duration>   forget history older than that, once
       tidepool files inspect|sync <folder or WebDAV URL> [options]   (tidepool files help)

  --port <n>        port to listen on (default 4000; 0 picks a free one)
  --host <addr>     address to listen on (default 127.0.0.1)
  --db <where>      a SQLite file (default ./tidepool.db) or postgres://user@host/db[?schema=name]
  --models <file>   a module exporting the app's models (and its schemaVersion): writes are validated with their schemas
  --secret <s>      verify HS256 JWTs with this secret (or TIDEPOOL_JWT_SECRET); default: no auth
  --jwks <url>      verify JWTs against this JWKS
  --algorithms <a,b>  the JWT algorithms accepted (default HS256 with --secret; RS256, PS256, ES256, EdDSA… with --jwks)
  --allow-no-expiry accept tokens without an exp claim (refused by default)
  --admin <user>    a server admin: every role in every realm (repeatable)
  --socket-buffer <bytes>  close a poke socket whose unsent data passes this (default 1048576)
  --min-schema <n>  answer upgrade-required below this schema version (default 1)
  --keep-history <d>  forget tombstones and other history older than this (30d, 12h, 90m…), hourly; clients further behind sync again from the start
  --static <dir>    serve this directory (a built web app) at /, on the same origin as sync
  --log             structured request logs
`

/** The models a module exports, and the schema version it names (`export const schemaVersion = 2`), if it does. */
async function loadModels(file: string): Promise<{ models: ModelClass[]; schemaVersion: number | undefined }> {
  const mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>
  const models = Object.values(mod).filter((v): v is ModelClass => typeof v === 'function' && (v as { prototype?: unknown }).prototype instanceof Model)
  if (models.length === 0) throw new InvalidOptionsError('--models', `${file} exports no models`)
  const { schemaVersion } = mod
  if (schemaVersion !== undefined && (typeof schemaVersion !== 'number' || !Number.isInteger(schemaVersion) || schemaVersion < 1)) {
    throw new InvalidOptionsError('--models', `${file} exports schemaVersion ${JSON.stringify(schemaVersion)}: it must be a positive integer`)
  }
  return { models, schemaVersion }
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '4000' },
      host: { type: 'string', default: '127.0.0.1' },
      db: { type: 'string', default: './tidepool.db' },
      models: { type: 'string' },
      secret: { type: 'string' },
      jwks: { type: 'string' },
      algorithms: { type: 'string' },
      'allow-no-expiry': { type: 'boolean', default: false },
      'socket-buffer': { type: 'string' },
      admin: { type: 'string', multiple: true, default: [] },
      'min-schema': { type: 'string', default: '1' },
      static: { type: 'string' },
      'keep-history': { type: 'string' },
      log: { type: 'boolean', default: false },
    },
  })
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidOptionsError('--port', `must be a port number, got ${values.port}`)
  const secret = values.secret ?? process.env.TIDEPOOL_JWT_SECRET
  const rules = { ...(values.algorithms ? { algorithms: values.algorithms.split(',').map(a => a.trim()) } : {}), allowNoExpiry: values['allow-no-expiry'] }
  const auth: ServerOptions['auth'] = secret ? { secret, ...rules } : values.jwks ? { jwksUrl: values.jwks, ...rules } : 'none'
  const socketBufferLimit = values['socket-buffer'] === undefined ? undefined : Number(values['socket-buffer'])
  if (socketBufferLimit !== undefined && (!Number.isInteger(socketBufferLimit) || socketBufferLimit < 1024)) throw new InvalidOptionsError('--socket-buffer', 'takes bytes (at least 1024)')
  const { models, schemaVersion } = values.models ? await loadModels(values.models) : { models: undefined, schemaVersion: undefined }
  // loaded here: `tidepool files` works without the server's packages
  const { createServer } = await import('../server.js')
  const server = await createServer({ port, host: values.host, storage: values.db, auth, models, schemaVersion, minSchemaVersion: Number(values['min-schema']), logger: values.log, static: values.static, socketBufferLimit, admins: values.admin, ...(values['keep-history'] !== undefined ? { history: { keep: values['keep-history'] } } : {}) })
  const where = server.store.kind === 'sqlite' ? values.db : values.db!.replace(/\/\/[^@]*@/, '//…@')
  console.log(`Tidepool server listening on ${server.url} (store: ${server.store.kind} ${where})`)
  if (!models) console.log('No --models given: mutations are checked for structure, preconditions and permissions, not against field schemas.')
  if (auth === 'none') console.log('No --secret or --jwks given: every client is the user "anonymous" (development only).')
  if (values.admin.length) console.log(`Server admins (every role in every realm): ${values.admin.join(', ')}`)
  let closing = false
  const shutdown = (signal: string) => {
    if (closing) return
    closing = true
    console.log(`${signal}: finishing requests in flight, then stopping`)
    server.close().then(
      () => process.exit(0),
      e => {
        console.error(e)
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
}

/** One compaction of a server's database (while its servers run, or not). */
async function compact(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { db: { type: 'string', default: './tidepool.db' }, keep: { type: 'string' } } })
  if (values.keep === undefined) throw new InvalidOptionsError('--keep', 'is required: how much history to keep (30d, 12h, 90m, 0s…)')
  const { parseKeep } = await import('../server/history.js')
  const keepMs = parseKeep('--keep', values.keep)
  const { openServerStore } = await import('../server/open-store.js')
  const store = openServerStore(values.db!)
  await store.open()
  try {
    const c = await store.compact(keepMs)
    console.log(`History kept from revision ${c.horizon}: forgot ${c.tombstones} tombstones, ${c.exits} realm exits, ${c.results} mutation outcomes, ${c.memberships} ended memberships`)
  } finally {
    await store.close()
  }
}

const [command, ...rest] = process.argv.slice(2)
try {
  if (command === 'serve') await serve(rest)
  else if (command === 'compact') await compact(rest)
  else if (command === 'files') await files(rest)
  else {
    console.log(USAGE)
    process.exit(command === undefined || command === 'help' || command === '--help' ? 0 : 2)
  }
} catch (e) {
  console.error(`tidepool: ${(e as Error).message}`)
  process.exit(1)
}
