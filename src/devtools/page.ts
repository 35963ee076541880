import type { DatabaseReport } from '../database/report.js'
import { DevtoolsPanel, type PanelSource } from './panel.js'

/**
 * The `/devtools` page of `tidepool serve --devtools`: the replicas that
 * report to this server (`shareDevtools`), one at a time in the panel.
 * Served as a module straight from the package's files.
 */

interface Listed {
  clientId: string
  userId: string
  name: string
  at: number
}

const POLL_MS = 500

async function json<T>(path: string): Promise<T> {
  const res = await fetch(path)
  if (!res.ok) throw new Error(`${path}: ${res.status}`)
  return (await res.json()) as T
}

/** Fills `root` with a picker of the reporting replicas and the panel of the one picked. */
export function showReports(root: HTMLElement): void {
  const picker = document.createElement('select')
  const empty = document.createElement('p')
  empty.textContent = 'No replica reports to this server yet: call shareDevtools(db, { url }) from tidepool/devtools in the app.'
  const frame = document.createElement('div')
  frame.className = 'frame'
  root.append(picker, empty, frame)
  let listed: Listed[] = []
  let panel: DevtoolsPanel | undefined
  let shownAt = 0
  const source = (clientId: string): PanelSource => ({
    async read(collection) {
      const report = await json<DatabaseReport>(`/v1/devtools/reports/${encodeURIComponent(clientId)}`)
      shownAt = report.at
      // a shared report lists every collection's first documents; the panel shows the one picked
      return collection === undefined ? report : { ...report, documents: { [collection]: report.documents?.[collection] ?? [] } }
    },
    subscribe(changed) {
      const poll = setInterval(() => listed.find(l => l.clientId === clientId && l.at !== shownAt) && changed(), POLL_MS)
      return () => clearInterval(poll)
    },
  })
  const pick = (clientId: string) => {
    panel?.close()
    const host = document.createElement('div')
    frame.replaceChildren(host)
    panel = new DevtoolsPanel(host.attachShadow({ mode: 'open' }), source(clientId))
  }
  picker.onchange = () => pick(picker.value)
  const list = async () => {
    try {
      listed = await json<Listed[]>('/v1/devtools/reports')
    } catch {
      return
    }
    const known = new Set([...picker.options].map(o => o.value))
    for (const l of listed.filter(l => !known.has(l.clientId))) picker.append(new Option(`${l.name} · ${l.userId} · ${l.clientId}`, l.clientId))
    empty.hidden = listed.length > 0
    picker.hidden = listed.length === 0
    if (!panel && listed[0]) pick(listed[0].clientId)
  }
  void list()
  setInterval(() => void list(), POLL_MS)
}
