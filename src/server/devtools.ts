import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { fileURLToPath } from 'node:url'
import { HttpError } from '../core/errors.js'

/**
 * `--devtools`: replicas without a page of their own (`shareDevtools` in a
 * Node process) report what they hold, and `/devtools` shows those reports
 * in the devtools panel. For development only: a report holds documents,
 * so every devtools route answers this machine alone, under a local host
 * name (a page elsewhere cannot reach it by rebinding its name), and a
 * client's reports are taken only from the user who filed its first one.
 */

interface Held {
  clientId: string
  userId: string
  name: string
  at: number
  /** Kept as sent: a parsed report can cost many times its size in memory. */
  json: string
}

/** Reports kept at most, and their bytes at most: the oldest go first. */
const KEPT = 100
const KEPT_BYTES = 64 * 1024 * 1024
const MAX_REPORT_BYTES = 4 * 1024 * 1024
/** Clients whose user is remembered, after their reports are gone too. */
const OWNERS_KEPT = 10_000
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1'])
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Tidepool devtools</title><link rel="icon" href="data:,">
<style>body { margin: 0; font: 13px system-ui, sans-serif; display: flex; flex-direction: column; height: 100vh; } select, p { margin: 8px 10px; } .frame { flex: 1; min-height: 0; } .frame > div { height: 100%; }</style></head>
<body><script type="module">import { showReports } from '/devtools/lib/devtools/page.js'; showReports(document.body)</script></body>
</html>`

/** Why a request may not use the devtools, if it may not. */
function notLocal(req: FastifyRequest): string | undefined {
  if (!LOOPBACK.has(req.socket.remoteAddress ?? '')) return 'the devtools answer requests from this machine only'
  const host = (req.headers.host ?? '').replace(/:\d+$/, '')
  if (!LOCAL_HOSTS.has(host)) return `the devtools answer under localhost, 127.0.0.1 or [::1], not ${JSON.stringify(host)}`
  if (req.headers['sec-fetch-site'] === 'cross-site') return 'the devtools answer no other site'
  return undefined
}

export async function serveDevtools(app: FastifyInstance, user: (req: FastifyRequest) => Promise<string>): Promise<void> {
  const held = new Map<string, Held>()
  const owners = new Map<string, string>()
  let heldBytes = 0
  const forget = (clientId: string) => {
    const h = held.get(clientId)
    if (!h) return
    held.delete(clientId)
    heldBytes -= h.json.length
  }

  await app.register(async scope => {
    scope.addHook('onRequest', async req => {
      const why = notLocal(req)
      if (why) throw new HttpError(403, 'permission-denied', why)
    })

    scope.put('/v1/devtools/reports/:clientId', { bodyLimit: MAX_REPORT_BYTES }, async req => {
      const userId = await user(req)
      const { clientId } = req.params as { clientId: string }
      const report = req.body as { head?: { clientId?: unknown }; name?: unknown; at?: unknown } | null
      if (typeof report !== 'object' || report === null || Array.isArray(report)) throw new HttpError(400, 'invalid-message', 'a devtools report is a JSON object (db.inspect())')
      if (report.head?.clientId !== clientId) throw new HttpError(400, 'invalid-message', `the report's head.clientId must be ${JSON.stringify(clientId)}, the client it is filed under`)
      if (typeof report.at !== 'number' || typeof report.name !== 'string') throw new HttpError(400, 'invalid-message', 'a devtools report names its database (name) and when it was read (at)')
      const owner = owners.get(clientId)
      if (owner !== undefined && owner !== userId) throw new HttpError(403, 'permission-denied', `client ${clientId} reports as ${owner}`)
      owners.delete(clientId)
      owners.set(clientId, userId)
      if (owners.size > OWNERS_KEPT) owners.delete(owners.keys().next().value!)
      forget(clientId)
      const json = JSON.stringify(report)
      held.set(clientId, { clientId, userId, name: report.name, at: report.at, json })
      heldBytes += json.length
      while (held.size > KEPT || heldBytes > KEPT_BYTES) forget(held.keys().next().value!)
      return { ok: true }
    })

    scope.get('/v1/devtools/reports', async () => [...held.values()].reverse().map(({ json: _, ...listed }) => listed))

    scope.get('/v1/devtools/reports/:clientId', async (req, reply) => {
      const { clientId } = req.params as { clientId: string }
      const found = held.get(clientId)
      if (!found) throw new HttpError(404, 'not-found', `no report from client ${clientId}`)
      return reply.type('application/json').send(found.json)
    })

    scope.get('/devtools', async (_req, reply) => reply.type('text/html').send(PAGE))

    // the panel's modules, as the package ships them: they import only their own room and core/describe
    await scope.register(fastifyStatic, {
      root: fileURLToPath(new URL('..', import.meta.url)),
      prefix: '/devtools/lib/',
      decorateReply: false,
      allowedPath: path => /^\/(devtools\/[\w-]+|core\/describe)\.js$/.test(path),
    })
  })
}
