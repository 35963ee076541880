import { HttpError } from '../core/errors.js'
import type { ErrorResponse, PullRequest, PullResponse, PushRequest, PushResponse } from '../protocol/messages.js'
import { TokenSource } from './tokens.js'

/**
 * How a replica's sync reaches the server: `httpTransport` by default, or
 * another one in `SyncOptions.transport` (tests inject one). A failed
 * request rejects, as `httpTransport`'s do, with an `HttpError` (status 0:
 * the server was not reached).
 */
export interface Transport {
  /** Sends outbox mutations; resolves with the server's results for them. */
  push(req: PushRequest): Promise<PushResponse>
  /** Asks for the changes after `req.since`; resolves with a page of them. */
  pull(req: PullRequest): Promise<PullResponse>
  /** The WebSocket URL for pokes, with the current token. */
  socketUrl(): Promise<string>
  /** The tokens requests carry, for a socket to renew its own before they expire (none: no auth). */
  readonly tokens?: TokenSource
}

/** HTTP via fetch. `token` is asked again shortly before the token expires, and after a 401 (once per request). */
export function httpTransport(url: string, token?: () => string | Promise<string>, timeoutMs = 30_000): Transport {
  const base = url.replace(/\/+$/, '')
  const tokens = token ? new TokenSource(token) : undefined
  const bearer = (fresh: boolean) => tokens?.forRequest(fresh)
  async function post<T>(path: string, body: unknown): Promise<T> {
    let retriedReset = false
    for (let attempt = 0; ; attempt++) {
      const t = await bearer(attempt > 0 && !retriedReset)
      let res: Response
      try {
        res = await fetch(base + path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(t ? { authorization: `Bearer ${t}` } : {}) },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        })
      } catch (e) {
        const cause = (e as { cause?: { code?: string; message?: string } }).cause
        // a pooled keep-alive connection closed under us: push and pull are idempotent, so try once more at once
        if (attempt === 0 && (cause?.code === 'ECONNRESET' || cause?.code === 'UND_ERR_SOCKET')) {
          retriedReset = true
          continue
        }
        throw new HttpError(0, 'offline', `cannot reach ${base}: ${(e as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}`, { cause: e })
      }
      if (res.status === 401 && token && attempt === 0) continue
      const text = await res.text()
      let data: unknown
      try {
        data = JSON.parse(text)
      } catch {
        throw new HttpError(res.status, 'bad-response', `${base}${path} answered ${res.status} with non-JSON`)
      }
      if (!res.ok) {
        const e = data as ErrorResponse
        const retryAfter = Number(res.headers.get('retry-after') ?? NaN)
        throw new HttpError(res.status, e.error ?? 'error', e.message ?? `${res.status}`, Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterMs: retryAfter * 1000 } : {})
      }
      return data as T
    }
  }
  return {
    push: req => post<PushResponse>('/v1/push', req),
    pull: req => post<PullResponse>('/v1/pull', req),
    ...(tokens ? { tokens } : {}),
    async socketUrl() {
      const t = await bearer(false)
      return `${base.replace(/^http/, 'ws')}/v1/socket${t ? `?token=${encodeURIComponent(t)}` : ''}`
    },
  }
}

