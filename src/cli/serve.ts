import { Option, type Command } from 'commander'
import type { ServerOptions } from '../server.js'
import { loadModels } from './models.js'
import { algorithms, collect, duration, existingDir, existingFile, httpUrl, integer } from './values.js'

interface ServeFlags {
  port: number
  host: string
  db: string
  models?: string
  secret?: string
  jwks?: string
  algorithms?: string[]
  allowNoExpiry: boolean
  admin: string[]
  socketBuffer?: number
  minSchema: number
  keepHistory?: number
  static?: string
  devtools: boolean
  log: boolean
}

export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('run the sync server (embedded SQLite by default, or PostgreSQL)')
    .addOption(new Option('--port <n>', 'port to listen on (0 picks a free one)').default(4000).env('PORT').argParser(integer(0, 65535)))
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--db <where>', 'a SQLite file, or postgres://user@host/db[?schema=name]', './tidepool.db')
    .option('--models <file>', "a module exporting the app's models (and its schemaVersion): writes are validated with their schemas", existingFile)
    .addOption(new Option('--secret <s>', 'verify HS256 JWTs with this secret (default: no auth)').env('TIDEPOOL_JWT_SECRET').conflicts('jwks'))
    .option('--jwks <url>', 'verify JWTs against this JWKS', httpUrl)
    .option('--algorithms <a,b>', 'the JWT algorithms accepted (default HS256 with --secret; RS256, PS256, ES256, EdDSA with --jwks)', algorithms)
    .option('--allow-no-expiry', 'accept tokens without an exp claim (refused by default)', false)
    .option('--admin <user>', 'a server admin: every role in every realm (repeatable)', collect, [])
    .option('--socket-buffer <bytes>', 'close a poke socket whose unsent data passes this (default 1048576)', integer(1024))
    .option('--min-schema <n>', 'answer upgrade-required below this schema version', integer(1), 1)
    .option('--keep-history <d>', 'forget tombstones and other history older than this (30d, 12h, 90m…), hourly; clients further behind sync again from the start', duration)
    .option('--static <dir>', 'serve this directory (a built web app) at /, on the same origin as sync', existingDir)
    .option('--devtools', 'show replicas that report here (shareDevtools) in the devtools panel at /devtools, to this machine only (development)', false)
    .option('--log', 'structured request logs (JSON lines)', false)
    .action((flags: ServeFlags) => serve(flags))
}

async function serve(flags: ServeFlags): Promise<void> {
  const rules = { ...(flags.algorithms ? { algorithms: flags.algorithms } : {}), allowNoExpiry: flags.allowNoExpiry }
  const auth: ServerOptions['auth'] = flags.secret ? { secret: flags.secret, ...rules } : flags.jwks ? { jwksUrl: flags.jwks, ...rules } : 'none'
  const { models, schemaVersion } = flags.models ? await loadModels(flags.models) : { models: undefined, schemaVersion: undefined }
  // loaded here: `tidepool files` works without the server's packages
  const { createServer } = await import('../server.js')
  const server = await createServer({
    port: flags.port,
    host: flags.host,
    storage: flags.db,
    auth,
    models,
    schemaVersion,
    minSchemaVersion: flags.minSchema,
    logger: flags.log,
    static: flags.static,
    devtools: flags.devtools,
    socketBufferLimit: flags.socketBuffer,
    admins: flags.admin,
    ...(flags.keepHistory !== undefined ? { history: { keep: flags.keepHistory } } : {}),
  })
  const where = server.store.kind === 'sqlite' ? flags.db : flags.db.replace(/\/\/[^@]*@/, '//…@')
  console.log(`Tidepool server listening on ${server.url} (store: ${server.store.kind} ${where})`)
  if (!models) console.log('No --models given: mutations are checked for structure, preconditions and permissions, not against field schemas.')
  if (auth === 'none') console.log('No --secret or --jwks given: every client is the user "anonymous" (development only).')
  if (flags.devtools) console.log(`Devtools: ${server.url}/devtools shows the replicas that report here (shareDevtools from tidepool/devtools).`)
  if (flags.admin.length) console.log(`Server admins (every role in every realm): ${flags.admin.join(', ')}`)
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

