import { ClosedError } from '../core/errors.js'
import { syncerOf, type Database } from '../database/database.js'

/** Where a replica outside a browser reports to: a server started with `--devtools`. */
export interface ShareOptions {
  /** The server's base URL (as given to `sync.url`). */
  url: string
  /** The sync token, sent as a bearer token: the server names the reporting user by it. */
  token?: () => string | Promise<string>
  /** How many documents of each collection a report lists (default 50). */
  documents?: number
}

/** A replica reporting to a server. */
export interface SharedDevtools {
  /** Sends a report now (after the one in flight); resolves once the server has it, rejects with why it did not take it. */
  flush(): Promise<void>
  /** Why the last report did not reach the server; undefined once one has. */
  readonly lastError: string | undefined
  /** Stops reporting, and gives up the report in flight. */
  stop(): void
}

/** A report is sent at most this often while the replica changes, and at least this often while it does not (a restarted server hears it again). */
const SOON_MS = 200
const AGAIN_MS = 10_000
/** A server that does not answer a report in this long is given up on until the next one. */
const TIMEOUT_MS = 10_000

/**
 * Reports a replica that has no page of its own (a Node process on SQLite)
 * to a server started with `tidepool serve --devtools`, whose `/devtools`
 * page shows it in the same panel. Sent after each change, rejection and
 * status change, and every 10 s. Reporting never disturbs the app: a report
 * the server does not take waits for the next one (`lastError` says why),
 * and closing the database stops it.
 */
export function shareDevtools(db: Database, options: ShareOptions): SharedDevtools {
  // under the base URL's own path, as sync's requests are
  const endpoint = `${options.url.replace(/\/+$/, '')}/v1/devtools/reports/${encodeURIComponent(db.clientId)}`
  let timer: ReturnType<typeof setTimeout> | undefined
  let sending: Promise<void> = Promise.resolve()
  let stopped = false
  let lastError: string | undefined
  const inFlight = new AbortController()
  const send = async () => {
    if (stopped) return
    const report = await db.inspect({ documents: { limit: options.documents ?? 50 } })
    const token = await options.token?.()
    const signal = AbortSignal.any([inFlight.signal, AbortSignal.timeout(TIMEOUT_MS)])
    const res = await fetch(endpoint, { method: 'PUT', signal, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(report) })
    if (!res.ok) throw new Error(`the devtools report to ${endpoint} was refused: ${res.status} ${await res.text()}`)
  }
  const flush = () =>
    (sending = sending
      .catch(() => undefined)
      .then(send)
      .then(
        () => void (lastError = undefined),
        (e: unknown) => {
          if (e instanceof ClosedError) shared.stop()
          lastError = (e as Error).message
          throw e
        },
      ))
  const schedule = () => {
    if (stopped || timer) return
    timer = setTimeout(() => {
      timer = undefined
      flush().catch(() => undefined)
    }, SOON_MS)
  }
  const beat = setInterval(schedule, AGAIN_MS)
  beat.unref?.()
  const stops = [db.on('change', schedule), db.on('rejected', schedule), syncerOf(db)?.subscribe(schedule)]
  const shared: SharedDevtools = {
    flush,
    get lastError() {
      return lastError
    },
    stop() {
      if (stopped) return
      stopped = true
      clearTimeout(timer)
      clearInterval(beat)
      inFlight.abort()
      for (const s of stops) s?.()
    },
  }
  return shared
}
