import { syncerOf, type Database } from '../database/database.js'
import { DevtoolsPanel, type PanelSource } from './panel.js'

/** Where and how `mountDevtools` shows the panel. */
export interface DevtoolsOptions {
  /** The element to fill with the panel; default a panel docked at the bottom right of the page. */
  parent?: HTMLElement
  /** Start folded to its header (default: open). */
  folded?: boolean
}

/** A mounted panel. */
export interface MountedDevtools {
  /** Reads the database again now; resolves once the panel shows it. */
  refresh(): Promise<void>
  /** Removes the panel and stops listening. */
  close(): void
}

/** Subscriptions opening and closing, and rejections acknowledged, raise no event: a second's wait is soon enough to show them. */
const AGAIN_MS = 1000

/** The panel's source for a database in this page: its reports, read again after each change, rejection or status change, and every second. */
export function databaseSource(db: Database): PanelSource {
  return {
    read: collection => db.inspect(collection === undefined ? {} : { documents: { collection, limit: 100 } }),
    subscribe(changed) {
      const beat = setInterval(changed, AGAIN_MS)
      const stops = [db.on('change', changed), db.on('rejected', changed), syncerOf(db)?.subscribe(changed), () => clearInterval(beat)]
      return () => stops.forEach(stop => stop?.())
    },
  }
}

/**
 * Mounts the devtools panel for `db` into the page: its collections and
 * documents, the outbox with each mutation's ops and preconditions, stored
 * rejections, the sync status and its history, live subscriptions, the
 * user's realms and `db.stats()`, all kept current. Import it only where
 * it is wanted (`import('tidepool/devtools')` behind a flag): an app that
 * never imports it carries none of it.
 */
export function mountDevtools(db: Database, options: DevtoolsOptions = {}): MountedDevtools {
  const host = document.createElement('div')
  host.id = 'tidepool-devtools'
  const docked = options.parent === undefined
  const place = (folded: boolean) => {
    host.style.cssText = docked
      ? `position: fixed; right: 12px; bottom: 12px; z-index: 2147483647; width: min(560px, calc(100vw - 24px)); height: ${folded ? '34px' : 'min(60vh, 520px)'}; box-shadow: 0 4px 18px #0004; border-radius: 6px; overflow: hidden;`
      : 'display: block; height: 100%;'
  }
  let folded = options.folded ?? false
  place(folded)
  const root = host.attachShadow({ mode: 'open' })
  const fold = document.createElement('button')
  const label = () => (fold.textContent = folded ? 'show' : 'hide')
  label()
  fold.onclick = () => {
    folded = !folded
    place(folded)
    label()
  }
  const panel = new DevtoolsPanel(root, databaseSource(db), docked ? [fold] : [])
  ;(options.parent ?? document.body).append(host)
  return {
    refresh: () => panel.refresh(),
    close() {
      panel.close()
      host.remove()
    },
  }
}
