import fastifyStatic from '@fastify/static'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import { HttpError, InvalidOptionsError, PermissionDeniedError } from '../core/errors.js'
import { compileCheck, type Check } from '../core/validate.js'
import type { JsonSchema } from '../core/schema.js'
import { valueIssue } from '../core/values.js'
import { REQUEST_SCHEMAS, requestIssue } from '../protocol/schemas.js'
import { MAX_MESSAGE_BYTES, PROTOCOL_VERSION, type ErrorResponse, type PullRequest, type PullResponse, type PushRequest } from '../protocol/messages.js'
import { authenticator, type AuthOptions } from './auth.js'
import { serveDevtools } from './devtools.js'
import { pullStored } from './pull.js'
import { changesJson } from './stored-json.js'
import { CommitFeed } from './feed.js'
import { GroupCommit } from './group-commit.js'
import { compactEvery, parseKeep } from './history.js'
import { LoadShedder, type LoadLimits } from './load.js'
import { ServerMetrics } from './metrics.js'
import { openServerStore } from './open-store.js'
import type { PushContext } from './push.js'
import type { ServerStore } from './store.js'
import { PokeSockets } from './sockets.js'
import { schemaValidator, type CollectionSchema } from './validate-schemas.js'

export interface ServerOptions {
  /**
   * The app's collections and their document schemas: writes are validated
   * with them. Without them only the structure of mutations is checked.
   * (`createServer` of `tidepool/server` takes `models` and builds these.)
   */
  schemas?: CollectionSchema[]
  /** A store, a SQLite file path, or a `postgres://` URL; default `./tidepool.db`. */
  storage?: ServerStore | string
  /**
   * How clients authenticate: `{ secret }` verifies HS256 JWTs, `{ jwksUrl }`
   * verifies against a JWKS (`algorithms` pins others); the token's `sub` is
   * the user, and a token must expire (`exp`) unless `allowNoExpiry`.
   * `'none'` (the default, for development) makes every client the user
   * `anonymous`.
   */
  auth?: AuthOptions
  /** Users with every role in every realm: operators and back-office tools (they also read every realm). */
  admins?: readonly string[]
  /** A poke socket whose unsent data passes this many bytes is closed; the client reconnects and pulls (default 1 MiB). */
  socketBufferLimit?: number
  /** The port to listen on (default 4000; 0: any free one, see `TidepoolServer.port`). */
  port?: number
  /** The address to listen on (default 127.0.0.1, this machine only). */
  host?: string
  /** Mutations written under an older schema version are answered `upgrade-required` (default 1). */
  minSchemaVersion?: number
  /**
   * How long the server keeps change history: tombstones, exits, mutation
   * outcomes clients have pulled, and ended memberships older than `keep`
   * (`'30d'`, `'12h'`, or milliseconds) are forgotten, hourly. A client
   * further behind syncs its realms again from the start, its outbox kept.
   * Default: kept forever.
   */
  history?: { keep: string | number }
  /** What the server takes on before it answers new work with 503 and Retry-After (sockets, requests in flight, a busy event loop). */
  limits?: LoadLimits
  /** Structured request logs (JSON lines), default off. */
  logger?: boolean
  /** A directory of static files (a built web app) served at `/`, so the app and its sync server share an origin. */
  static?: string
  /**
   * For development: replicas report to the server (`shareDevtools` from
   * `tidepool/devtools`) and `/devtools` shows them in the devtools panel.
   * Reports hold documents, so they are shown to this machine only.
   */
  devtools?: boolean
}

/** A running sync server, as `createServer` resolves it: where it listens, its store, and `close()`. */
export interface TidepoolServer {
  /** `http://host:port` */
  readonly url: string
  /** The port it listens on. */
  readonly port: number
  /** Where it keeps its data. */
  readonly store: ServerStore
  /** Stops accepting work, finishes requests in flight (no acknowledged push is lost) and closes the store. */
  close(): Promise<void>
}

const checkPush = compileCheck(REQUEST_SCHEMAS.push as unknown as JsonSchema)
const checkPull = compileCheck(REQUEST_SCHEMAS.pull as unknown as JsonSchema)

/** A request body that passed its schema and the name rules, or a 400 naming what is wrong. */
function validated<T extends PushRequest | PullRequest>(check: Check, what: string, body: unknown): T {
  const issue = check(body)
  if (issue) throw new HttpError(400, 'invalid-message', `${what}${issue.path.replaceAll('/', '.')}: ${issue.reason}`)
  const bad = requestIssue(body as T)
  if (bad) throw new HttpError(400, 'invalid-message', `${what}.${bad}`)
  return body as T
}

/**
 * The pull's answer as JSON. A document stored before the value rules
 * existed (nested too deep to encode, say) is left out, never the reason a
 * pull fails.
 */
function encodePull(res: PullResponse, log: (message: string) => void): string {
  try {
    // the changes written by hand, in the place JSON.stringify gives them (the first key by that name: the envelope's come before it)
    const envelope = JSON.stringify({ ...res, changes: [] })
    const at = envelope.indexOf('"changes":[]') + '"changes":'.length
    return envelope.slice(0, at) + changesJson(res.changes) + envelope.slice(at + 2)
  } catch {
    const changes = res.changes.filter(c => {
      const bad = valueIssue(c)
      if (bad) log(`pull leaves out ${c.collection} ${JSON.stringify(c.id)}: ${bad.path} ${bad.reason}`)
      return !bad
    })
    return JSON.stringify({ ...res, changes })
  }
}

/** Starts a Tidepool sync server. */
export async function createServer(options: ServerOptions = {}): Promise<TidepoolServer> {
  // auth and schemas are checked before the store opens, so refusing them leaves nothing open
  const authenticate = authenticator(options.auth ?? 'none')
  if (options.admins !== undefined && (!Array.isArray(options.admins) || !options.admins.every(a => typeof a === 'string' && a !== ''))) {
    throw new InvalidOptionsError('admins', 'a list of user ids')
  }
  const admins = new Set(options.admins ?? [])
  const ctx: Omit<PushContext, 'userId' | 'admin'> = {
    minSchemaVersion: options.minSchemaVersion ?? 1,
    ...(options.schemas?.length ? { validate: schemaValidator(options.schemas) } : {}),
  }
  const keepMs = options.history === undefined ? undefined : parseKeep('history.keep', options.history.keep)
  // limits are checked before the store opens too
  const load = new LoadShedder(options.limits, () => sockets.size)
  const store = typeof options.storage === 'object' ? options.storage : openServerStore(options.storage ?? './tidepool.db')
  try {
    await store.open()
  } catch (e) {
    load.stop()
    throw e
  }
  // every user who signs in is recorded once (per process), so that no Realm can take their id afterwards
  const noted = new Set<string>()
  const signIn = async (token: string | undefined) => {
    const identity = await authenticate(token)
    if (!noted.has(identity.userId)) {
      await store.noteUser(identity.userId)
      if (noted.size >= 100_000) noted.clear()
      noted.add(identity.userId)
    }
    return identity
  }
  const sockets: PokeSockets = new PokeSockets(signIn, store, admins, options.socketBufferLimit ?? 1024 * 1024, (): number => feed.revision)
  // every commit is told to the sockets in revision order, this server's own and those other servers announce
  const feed = new CommitFeed(store, sockets, await store.revision())
  const commits = new GroupCommit(store, c => feed.committed(c))
  /** Closing: new work goes to another instance (503), what is in flight finishes. */
  let draining = false
  const counted = new WeakSet<FastifyRequest>()
  const compactions = { runs: 0, horizon: 0, forgotten: 0 }
  const metrics = new ServerMetrics(async () => ({
    sockets: sockets.size,
    socketsBufferedBytes: sockets.buffered,
    socketsOpened: sockets.opened,
    socketsDropped: sockets.dropped,
    socketsRenewed: sockets.renewed,
    pokesInline: sockets.inlinePokes,
    pokesPlain: sockets.plainPokes,
    revision: await store.revision(),
    revisionTold: feed.revision,
    commitBatches: commits.batches,
    batchedPushes: commits.pushes,
    commitsHeard: feed.heard,
    catchUps: feed.catchUps,
    listenConnected: store.commits?.state === 'listening' ? 1 : 0,
    compactions: compactions.runs,
    compactionHorizon: compactions.horizon,
    compactedRows: compactions.forgotten,
    requestsInFlight: load.inFlight,
    shed: load.shed,
    eventLoopBusyPercent: load.busy,
  }))
  try {
    await feed.start()
  } catch (e) {
    load.stop()
    await store.close()
    throw e
  }
  const app: FastifyInstance = Fastify({ logger: options.logger ?? false, bodyLimit: MAX_MESSAGE_BYTES })
  app.setErrorHandler((error: FastifyError | HttpError, _req, reply) => {
    const status = error instanceof HttpError ? error.status : error instanceof PermissionDeniedError ? 403 : (error.statusCode ?? 500)
    // an answer the server chose (a 503 while shedding load) says why; an unexpected failure says nothing of its insides
    const unexpected = status >= 500 && !(error instanceof HttpError)
    if (unexpected) {
      metrics.errors.inc()
      app.log.error(error)
    }
    const code = error instanceof HttpError ? error.code : status === 413 ? 'too-large' : status === 403 ? 'permission-denied' : status >= 500 ? 'internal' : 'bad-request'
    const body: ErrorResponse = { type: 'error', v: PROTOCOL_VERSION, error: code, message: unexpected ? 'internal server error' : error.message }
    void reply.status(status).send(body)
  })

  // sync requests past a limit, or while draining, are told to come back (a load balancer sends them elsewhere); health checks always answer
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/v1/')) return
    const why = draining ? 'the server is shutting down' : load.refuse('request')
    if (why) {
      void reply.header('retry-after', String(load.retryAfter()))
      throw new HttpError(503, 'unavailable', `${why}: retry later`)
    }
    load.inFlight++
    counted.add(req)
    // 'close' comes when the answer is sent and when the client went away first: counted once either way
    reply.raw.once('close', () => {
      if (counted.delete(req)) load.inFlight--
    })
  })

  // an answer sent while draining closes its connection: a keep-alive connection busy when closing began would otherwise hold close() open
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (draining) void reply.header('connection', 'close')
    done(null, payload)
  })

  const user = async (req: FastifyRequest) => {
    const header = req.headers.authorization
    return (await signIn(header?.startsWith('Bearer ') ? header.slice(7) : undefined)).userId
  }

  app.post('/v1/push', async (req: FastifyRequest, reply: FastifyReply) => {
    const started = performance.now()
    const userId = await user(req)
    const body = validated<PushRequest>(checkPush, 'push', req.body)
    // concurrent pushes share one durable commit; poked as it resolves, before anything else awaits, so pokes go out in commit order
    const result = await commits.push(body, { ...ctx, userId, admin: admins.has(userId) })
    metrics.pushes.inc()
    metrics.pushSeconds.observe((performance.now() - started) / 1000)
    for (const r of result.results) {
      if (r.status === 'applied') metrics.applied.inc()
      else metrics.rejected.inc()
    }
    return reply.send(result)
  })

  app.post('/v1/pull', async (req: FastifyRequest, reply: FastifyReply) => {
    const userId = await user(req)
    const body = validated<PullRequest>(checkPull, 'pull', req.body)
    const started = performance.now()
    const answer = encodePull(await pullStored(store, body, { userId, everything: admins.has(userId) }), m => app.log.warn(m))
    metrics.pulls.inc()
    metrics.pullSeconds.observe((performance.now() - started) / 1000)
    return reply.type('application/json').send(answer)
  })

  // readiness: a load balancer stops sending work here while it drains, or while its store does not answer
  app.get('/ready', async (_req, reply) => {
    if (draining) return reply.status(503).send({ status: 'draining' })
    try {
      await store.revision()
    } catch {
      return reply.status(503).send({ status: 'store unavailable' })
    }
    return reply.send({ status: 'ready', listening: store.commits ? store.commits.state : 'not shared' })
  })
  app.get('/health', async () => ({ status: 'ok', store: store.kind, revision: await store.revision(), models: options.schemas?.length ?? 0 }))
  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()))
  if (options.devtools) await serveDevtools(app, user)

  if (options.static !== undefined) {
    const root = resolve(options.static)
    if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
      feed.stop()
      load.stop()
      await store.close()
      throw new InvalidOptionsError('static', `${root} is not a directory`)
    }
    await app.register(fastifyStatic, { root })
  }

  app.server.on('upgrade', (req, socket, head) => {
    const why = draining ? 'the server is shutting down' : load.refuse('socket')
    if (!why) return sockets.upgrade(req, socket, head)
    socket.end(`HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${load.retryAfter()}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
  })

  const stopCompacting =
    keepMs === undefined
      ? () => undefined
      : compactEvery(
          store,
          keepMs,
          c => {
            compactions.runs++
            compactions.horizon = c.horizon
            compactions.forgotten += c.tombstones + c.exits + c.results + c.memberships
          },
          e => app.log.error(e),
        )

  let address: string
  try {
    address = await app.listen({ port: options.port ?? 4000, host: options.host ?? '127.0.0.1' })
  } catch (e) {
    // the port is taken, say: nothing of this server stays open
    stopCompacting()
    feed.stop()
    load.stop()
    await store.close()
    throw e
  }
  const port = Number(new URL(address).port)
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    store,
    async close() {
      draining = true
      load.stop()
      sockets.close()
      await app.close()
      await commits.idle()
      feed.stop()
      stopCompacting()
      await feed.idle()
      await store.close()
    },
  }
}
