import { WrongUserError } from '../core/errors.js'

/** What a client reads of a JWT without verifying it (the server verifies): who it is for and until when. */
export function tokenClaims(token: string): { sub?: string; exp?: number } {
  const part = token.split('.')[1]
  if (!part) return {}
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='))
    const payload = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, c => c.charCodeAt(0)))) as { sub?: unknown; exp?: unknown }
    // the subject as the server reads it: a numeric sub is the user "123"
    const sub = payload.sub === undefined ? undefined : typeof payload.sub === 'string' ? payload.sub : JSON.stringify(payload.sub)
    return { ...(sub !== undefined ? { sub } : {}), ...(typeof payload.exp === 'number' ? { exp: payload.exp } : {}) }
  } catch {
    return {}
  }
}

/** A token is renewed this long before it expires. */
export const RENEW_BEFORE_MS = 30_000

/**
 * The app's token function, asked once and again shortly before the token
 * expires, or when the server refused it (`fresh`).
 */
export class TokenSource {
  private current: string | undefined
  /** The claims of `current`, read once: every request and round asks for them. */
  private read: { token: string; claims: { sub?: string; exp?: number } } | undefined
  private pending: Promise<string> | undefined
  /** The user a sync round speaks for: a token of another is refused, not sent. */
  private pinned: string | undefined

  constructor(private readonly fetch: () => string | Promise<string>) {}

  /** The claims of a token this source handed out (decoded once per token). */
  claims(token: string): { sub?: string; exp?: number } {
    if (this.read?.token !== token) this.read = { token, claims: tokenClaims(token) }
    return this.read.claims
  }

  async get(fresh = false): Promise<string> {
    const exp = this.current === undefined ? undefined : this.claims(this.current).exp
    if (this.current !== undefined && !fresh && (exp === undefined || exp * 1000 - Date.now() > RENEW_BEFORE_MS)) return this.current
    // callers at once share one call of the app's function
    this.pending ??= Promise.resolve()
      .then(() => this.fetch())
      .finally(() => (this.pending = undefined))
    this.current = await this.pending
    return this.current
  }

  /**
   * Holds requests to `userId` until `pin(undefined)`: a token the app's
   * function hands out meanwhile for another user throws `WrongUserError`
   * instead of carrying one user's writes under another's name.
   */
  pin(userId: string | undefined): void {
    this.pinned = userId
  }

  /** The token, if it is the pinned user's (see `pin`). */
  async forRequest(fresh = false): Promise<string> {
    const token = await this.get(fresh)
    const sub = this.claims(token).sub
    if (this.pinned !== undefined && sub !== undefined && sub !== this.pinned) throw new WrongUserError(this.pinned, sub)
    return token
  }

  /** Drops the token in hand: the next request asks the app again (after a sign-out, it may be another user's). */
  forget(): void {
    this.current = undefined
  }

  /** When the token in hand expires (ms since epoch; undefined: never, or none yet). */
  get expires(): number | undefined {
    const exp = this.current === undefined ? undefined : this.claims(this.current).exp
    return exp === undefined ? undefined : exp * 1000
  }
}
