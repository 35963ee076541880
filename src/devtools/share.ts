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
  /** Sends a report now (after the one in flight); resolves once the server has it. */
  flush(): Promise<void>
  /** Stops reporting. */
  stop(): void
}

/** A report is sent at most this often while the replica changes, and at least this often while it does not (a restarted server hears it again). */
const SOON_MS = 200
const AGAIN_MS = 10_000

/**
 * Reports a replica that has no page of its own (a Node process on SQLite)
 * to a server started with `tidepool serve --devtools`, whose `/devtools`
 * page shows it in the same panel. Sent after each change, rejection and
 * status change.
 */
export function shareDevtools(db: Database, options: ShareOptions): SharedDevtools {
  const endpoint = new URL(`/v1/devtools/reports/${encodeURIComponent(db.clientId)}`, options.url)
  let timer: ReturnType<typeof setTimeout> | undefined
  let sending: Promise<void> = Promise.resolve()
  let stopped = false
  const send = async () => {
    const report = await db.inspect({ documents: { limit: options.documents ?? 50 } })
    const token = await options.token?.()
    const res = await fetch(endpoint, { method: 'PUT', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(report) })
    if (!res.ok) throw new Error(`devtools report to ${endpoint.origin}: ${res.status} ${await res.text()}`)
  }
  const flush = () => (sending = sending.catch(() => undefined).then(send))
  const schedule = () => {
    if (stopped || timer) return
    timer = setTimeout(() => {
      timer = undefined
      // a report that cannot be sent waits for the next change or the next beat: reporting never disturbs the app
      flush().catch(() => undefined)
    }, SOON_MS)
  }
  const beat = setInterval(schedule, AGAIN_MS)
  beat.unref?.()
  const stops = [db.on('change', schedule), db.on('rejected', schedule), syncerOf(db)?.subscribe(schedule)]
  return {
    flush,
    stop() {
      stopped = true
      clearTimeout(timer)
      clearInterval(beat)
      for (const s of stops) s?.()
    },
  }
}
