import fastifyStatic from '@fastify/static'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { jwtVerify, createRemoteJWKSet, type JWTVerifyGetKey } from 'jose'
import type { IncomingMessage } from 'node:http'
import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import { WebSocketServer, type WebSocket } from 'ws'
import { HttpError, InvalidOptionsError, PermissionDeniedError } from '../core/errors.js'
import { compileCheck } from '../core/validate.js'
import type { JsonSchema } from '../core/schema.js'
import { REQUEST_SCHEMAS } from '../protocol/schemas.js'
import { MAX_MESSAGE_BYTES, PROTOCOL_VERSION, type DocumentChange, type ErrorResponse, type Poke, type PullRequest, type PushRequest } from '../protocol/messages.js'
import { postgresServerStore } from './postgres-store.js'
import { pull } from './pull.js'
import { push, type PushContext } from './push.js'
import { sqliteServerStore } from './sqlite-store.js'
import type { ServerStore } from './store.js'
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
   * verifies against a JWKS; the token's `sub` is the user. `'none'` (the
   * default, for development) makes every client the user `anonymous`.
   */
  auth?: { secret: string } | { jwksUrl: string } | 'none'
  port?: number
  host?: string
  /** Mutations written under an older schema version are answered `upgrade-required` (default 1). */
  minSchemaVersion?: number
  /** Structured request logs (JSON lines), default off. */
  logger?: boolean
  /** A directory of static files (a built web app) served at `/`, so the app and its sync server share an origin. */
  static?: string
}

export interface TidepoolServer {
  /** `http://host:port` */
  readonly url: string
  readonly port: number
  readonly store: ServerStore
  /** Stops accepting work, finishes requests in flight (no acknowledged push is lost) and closes the store. */
  close(): Promise<void>
}

const checkPush = compileCheck(REQUEST_SCHEMAS.push as unknown as JsonSchema)
const checkPull = compileCheck(REQUEST_SCHEMAS.pull as unknown as JsonSchema)

/** Starts a Tidepool sync server. */
export async function createServer(options: ServerOptions = {}): Promise<TidepoolServer> {
  // auth and schemas are checked before the store opens, so refusing them leaves nothing open
  const authenticate = authenticator(options.auth ?? 'none')
  const ctx: Omit<PushContext, 'userId'> = {
    minSchemaVersion: options.minSchemaVersion ?? 1,
    ...(options.schemas?.length ? { validate: schemaValidator(options.schemas) } : {}),
  }
  const store = typeof options.storage === 'object' ? options.storage : openStore(options.storage ?? './tidepool.db')
  await store.open()
  const metrics = { pushes: 0, applied: 0, rejected: 0, pulls: 0, errors: 0 }
  const sockets = new Set<WebSocket>()

  const app: FastifyInstance = Fastify({ logger: options.logger ?? false, bodyLimit: MAX_MESSAGE_BYTES })
  app.setErrorHandler((error: FastifyError | HttpError, _req, reply) => {
    const status = error instanceof HttpError ? error.status : error instanceof PermissionDeniedError ? 403 : (error.statusCode ?? 500)
    if (status >= 500) {
      metrics.errors++
      app.log.error(error)
    }
    const code = error instanceof HttpError ? error.code : status === 413 ? 'too-large' : status === 403 ? 'permission-denied' : status >= 500 ? 'internal' : 'bad-request'
    const body: ErrorResponse = { type: 'error', v: PROTOCOL_VERSION, error: code, message: status >= 500 ? 'internal server error' : error.message }
    void reply.status(status).send(body)
  })

  const user = async (req: FastifyRequest) => {
    const header = req.headers.authorization
    return authenticate(header?.startsWith('Bearer ') ? header.slice(7) : undefined)
  }

  app.post('/v1/push', async (req: FastifyRequest, reply: FastifyReply) => {
    const userId = await user(req)
    let lastRevision: number | undefined
    const issue = checkPush(req.body)
    if (issue) throw new HttpError(400, 'invalid-message', `push${issue.path.replaceAll('/', '.')}: ${issue.reason}`)
    const body = req.body as PushRequest
    let inline: Poke['inline']
    const result = await push(store, body, {
      ...ctx,
      userId,
      onCommitted: ({ first, last, written }) => {
        const changes: DocumentChange[] = written.map(d =>
          d.data === null ? { collection: d.collection, id: d.id, revision: d.revision, deleted: true } : { collection: d.collection, id: d.id, revision: d.revision, doc: d.data },
        )
        const candidate = { base: first - 1, from: body.clientId, changes }
        if (JSON.stringify(candidate).length <= INLINE_POKE_BYTES) inline = candidate
        lastRevision = last
      },
    })
    metrics.pushes++
    for (const r of result.results) {
      if (r.status === 'applied') metrics.applied++
      else metrics.rejected++
    }
    if (lastRevision !== undefined) poke(sockets, lastRevision, inline)
    return reply.send(result)
  })

  app.post('/v1/pull', async (req: FastifyRequest, reply: FastifyReply) => {
    await user(req)
    const issue = checkPull(req.body)
    if (issue) throw new HttpError(400, 'invalid-message', `pull${issue.path.replaceAll('/', '.')}: ${issue.reason}`)
    metrics.pulls++
    return reply.send(await pull(store, req.body as PullRequest))
  })

  app.get('/health', async () => ({ status: 'ok', store: store.kind, revision: await store.revision(), models: options.schemas?.length ?? 0 }))
  app.get('/metrics', async (_req, reply) => {
    const lines = Object.entries(metrics).map(([k, v]) => `tidepool_${k}_total ${v}`)
    lines.push(`tidepool_sockets ${sockets.size}`, `tidepool_revision ${await store.revision()}`)
    return reply.type('text/plain').send(lines.join('\n') + '\n')
  })

  if (options.static !== undefined) {
    const root = resolve(options.static)
    if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
      await store.close()
      throw new InvalidOptionsError('static', `${root} is not a directory`)
    }
    await app.register(fastifyStatic, { root })
  }

  // pokes: one WebSocket per client (the sync leader), authenticated by ?token=
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 })
  app.server.on('upgrade', (req: IncomingMessage, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== '/v1/socket') return socket.destroy()
    authenticate(url.searchParams.get('token') ?? undefined).then(
      () =>
        wss.handleUpgrade(req, socket, head, ws => {
          sockets.add(ws)
          ws.on('close', () => sockets.delete(ws))
          ws.on('error', () => sockets.delete(ws))
          // messages from clients are not part of the protocol yet: ignore them
          void store.revision().then(revision => ws.send(JSON.stringify({ type: 'poke', v: PROTOCOL_VERSION, revision } satisfies Poke)))
        }),
      () => {
        socket.write('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n')
        socket.destroy()
      },
    )
  })

  const address = await app.listen({ port: options.port ?? 4000, host: options.host ?? '127.0.0.1' })
  const port = Number(new URL(address).port)
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    store,
    async close() {
      for (const ws of sockets) ws.close(1001, 'server shutting down')
      wss.close()
      await app.close()
      await store.close()
    },
  }
}

/** Pokes carry a push's changes when they are at most this big. */
const INLINE_POKE_BYTES = 16 * 1024

function poke(sockets: Set<WebSocket>, revision: number, inline?: Poke['inline']): void {
  const message = JSON.stringify({ type: 'poke', v: PROTOCOL_VERSION, revision, ...(inline ? { inline } : {}) } satisfies Poke)
  for (const ws of sockets) if (ws.readyState === ws.OPEN) ws.send(message)
}

function openStore(where: string): ServerStore {
  if (/^postgres(ql)?:\/\//.test(where)) {
    const url = new URL(where)
    const schema = url.searchParams.get('schema') ?? undefined
    url.searchParams.delete('schema')
    return postgresServerStore(url.toString(), schema ? { schema } : {})
  }
  return sqliteServerStore(where)
}

function authenticator(auth: NonNullable<ServerOptions['auth']>): (token: string | undefined) => Promise<string> {
  if (auth === 'none') return async () => 'anonymous'
  let key: Uint8Array | JWTVerifyGetKey
  if ('secret' in auth) key = new TextEncoder().encode(auth.secret)
  else if ('jwksUrl' in auth) key = createRemoteJWKSet(new URL(auth.jwksUrl))
  else throw new InvalidOptionsError('auth', "use { secret }, { jwksUrl } or 'none'")
  return async token => {
    if (!token) throw new HttpError(401, 'unauthenticated', 'a bearer token is required')
    try {
      const { payload } = await jwtVerify(token, key as Uint8Array)
      if (payload.sub) return payload.sub
    } catch (e) {
      throw new HttpError(401, 'unauthenticated', `invalid token: ${(e as Error).message}`)
    }
    throw new HttpError(401, 'unauthenticated', 'invalid token: the token has no subject')
  }
}
