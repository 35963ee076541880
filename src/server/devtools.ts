import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { fileURLToPath } from 'node:url'
import { HttpError } from '../core/errors.js'

/**
 * `--devtools`: replicas without a page of their own (`shareDevtools` in a
 * Node process) report what they hold, and `/devtools` shows those reports
 * in the devtools panel. For development only: a report holds documents,
 * so the page and the reports answer this machine alone, and a report is
 * accepted only from its user (by the same auth as sync).
 */

interface Held {
  clientId: string
  userId: string
  name: string
  at: number
  report: Record<string, unknown>
}

/** Reports kept at most: the oldest goes when a new replica reports. */
const KEPT = 100
/** A report lists at most its collections' first documents, but they can be large. */
const MAX_REPORT_BYTES = 8 * 1024 * 1024
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1'])

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Tidepool devtools</title><link rel="icon" href="data:,">
<style>body { margin: 0; font: 13px system-ui, sans-serif; display: flex; flex-direction: column; height: 100vh; } select, p { margin: 8px 10px; } .frame { flex: 1; min-height: 0; } .frame > div { height: 100%; }</style></head>
<body><script type="module">import { showReports } from '/devtools/lib/devtools/page.js'; showReports(document.body)</script></body>
</html>`

function thisMachineOnly(req: FastifyRequest): void {
  if (!LOOPBACK.has(req.socket.remoteAddress ?? '')) throw new HttpError(403, 'permission-denied', 'the devtools answer requests from this machine only')
}

export async function serveDevtools(app: FastifyInstance, user: (req: FastifyRequest) => Promise<string>): Promise<void> {
  const held = new Map<string, Held>()

  app.put('/v1/devtools/reports/:clientId', { bodyLimit: MAX_REPORT_BYTES }, async req => {
    const userId = await user(req)
    const { clientId } = req.params as { clientId: string }
    const report = req.body as { head?: { clientId?: unknown }; name?: unknown; at?: unknown } | null
    if (typeof report !== 'object' || report === null || Array.isArray(report)) throw new HttpError(400, 'invalid-message', 'a devtools report is a JSON object (db.inspect())')
    if (report.head?.clientId !== clientId) throw new HttpError(400, 'invalid-message', `the report's head.clientId must be ${JSON.stringify(clientId)}, the client it is filed under`)
    if (typeof report.at !== 'number' || typeof report.name !== 'string') throw new HttpError(400, 'invalid-message', 'a devtools report names its database (name) and when it was read (at)')
    const known = held.get(clientId)
    if (known && known.userId !== userId) throw new HttpError(403, 'permission-denied', `client ${clientId} reports as ${known.userId}`)
    held.delete(clientId)
    held.set(clientId, { clientId, userId, name: report.name, at: report.at, report: report as Record<string, unknown> })
    if (held.size > KEPT) held.delete(held.keys().next().value!)
    return { ok: true }
  })

  app.get('/v1/devtools/reports', async req => {
    thisMachineOnly(req)
    return [...held.values()].reverse().map(({ report: _, ...listed }) => listed)
  })

  app.get('/v1/devtools/reports/:clientId', async req => {
    thisMachineOnly(req)
    const { clientId } = req.params as { clientId: string }
    const found = held.get(clientId)
    if (!found) throw new HttpError(404, 'not-found', `no report from client ${clientId}`)
    return found.report
  })

  app.get('/devtools', async (req, reply) => {
    thisMachineOnly(req)
    return reply.type('text/html').send(PAGE)
  })

  // the panel's modules, as the package ships them: it imports only its own room and core/describe
  await app.register(fastifyStatic, {
    root: fileURLToPath(new URL('..', import.meta.url)),
    prefix: '/devtools/lib/',
    decorateReply: false,
    allowedPath: (path, _root, req) => LOOPBACK.has(req.socket.remoteAddress ?? '') && /^\/(devtools\/[\w-]+|core\/describe)\.js$/.test(path),
  })
}
