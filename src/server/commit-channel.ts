import { sleep } from '../core/backoff.js'
import type { Notifications } from './sql-driver.js'
import type { CommitChannel } from './store.js'

/**
 * The commit channel over a database's notifications. A payload is
 * `<database> <revision>`, a few bytes however big the commit. NOTIFY takes
 * a lock that serializes every committing transaction of the cluster, so it
 * is sent outside the push transaction and at most once per `every` ms:
 * a burst of commits is announced by its last revision.
 */
export function commitChannel(notifications: Notifications, database: string, every = 5): CommitChannel {
  let wanted = 0
  let told = 0
  let lastAt = 0
  let sending = false
  const send = async () => {
    sending = true
    try {
      while (told < wanted) {
        const wait = lastAt + every - Date.now()
        if (wait > 0) await sleep(wait)
        const revision = wanted
        lastAt = Date.now()
        // a notification that fails is not retried: listeners also check the revision now and then
        await notifications.notify(`${database} ${revision}`).catch(() => undefined)
        told = revision
      }
    } finally {
      sending = false
    }
  }
  return {
    get state() {
      return notifications.state
    },
    listen(heard) {
      return notifications.listen(payload => {
        if (payload === undefined) return heard(undefined)
        const [db, revision] = payload.split(' ')
        const n = Number(revision)
        if (db === database && Number.isSafeInteger(n)) heard(n)
      })
    },
    announce(revision) {
      if (revision <= wanted) return
      wanted = revision
      if (!sending) void send()
    },
  }
}
