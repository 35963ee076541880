import { describeOp, describePrecondition } from '../core/describe.js'
import type { QuerySpec } from '../core/query.js'
import type { DatabaseReport } from '../database/report.js'
import { PANEL_CSS } from './style.js'

/**
 * The devtools panel: plain DOM, no framework, so it mounts into any page
 * and is served as is by `tidepool serve --devtools`. It imports nothing
 * but core/describe (and types), which keeps it loadable in a browser
 * straight from the package's files.
 */

/** Where a panel reads its reports: a database in the page, or a replica that reports to a server. */
export interface PanelSource {
  /** Reads a report, with the documents of `collection` when one is picked. */
  read(collection: string | undefined): Promise<DatabaseReport>
  /** Calls `changed` when a new report may differ. Returns a function that stops it. */
  subscribe(changed: () => void): () => void
}

const TABS = ['status', 'collections', 'outbox', 'rejections', 'subscriptions', 'realms', 'stats'] as const
type Tab = (typeof TABS)[number]

/** What a panel's header may hold besides its title: elements or text. */
export type Child = Node | string
function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> & { data?: Record<string, string> } = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const { data, ...rest } = props
  const node = Object.assign(document.createElement(tag), rest)
  for (const [k, v] of Object.entries(data ?? {})) node.dataset[k] = v
  node.append(...children)
  return node
}

const time = (ms: number | undefined) => (ms === undefined ? '—' : new Date(ms).toLocaleTimeString(undefined, { hour12: false }) + `.${String(ms % 1000).padStart(3, '0')}`)
const table = (head: string[], rows: Child[][]) => h('table', {}, h('tr', {}, ...head.map(c => h('th', {}, c))), ...rows.map(r => h('tr', {}, ...r.map(c => h('td', {}, c)))))

function describeQuery(q: QuerySpec): string {
  const parts = q.filters.map(f => `${f.path.join('.')} ${f.op} ${JSON.stringify(f.value)}`)
  const order = q.orders.map(o => `${o.path.join('.')}${o.dir === 'desc' ? ' desc' : ''}`)
  return [parts.length ? `where ${parts.join(' and ')}` : 'all', order.length ? `order by ${order.join(', ')}` : '', q.limit !== undefined ? `limit ${q.limit}` : ''].filter(Boolean).join(' · ')
}

/** Renders the reports of one source into `root`, again whenever the source says something changed (at most every 100 ms). */
export class DevtoolsPanel {
  private tab: Tab = 'outbox'
  private collection: string | undefined
  private readonly body: HTMLElement
  private readonly nav: HTMLElement
  private readonly title: HTMLElement
  private readonly stop: () => void
  private timer: ReturnType<typeof setTimeout> | undefined
  private reading = false
  private again = false
  private closed = false
  /** The last report shown, so switching tabs renders without reading again. */
  private report: DatabaseReport | undefined
  private shown: string | undefined
  /** Resolves after the next render (tests and callers that want the panel current). */
  private waiters: Array<() => void> = []

  /** Renders into `root` (a shadow root keeps the page's styles out), with `header` after the title (a fold button, say). */
  constructor(
    private readonly root: ShadowRoot | HTMLElement,
    private readonly source: PanelSource,
    header: Child[] = [],
  ) {
    this.title = h('span', { className: 'title' }, 'Tidepool')
    this.nav = h('nav')
    this.body = h('div', { className: 'body' })
    root.append(h('style', {}, PANEL_CSS), h('div', { className: 'panel', data: { tidepoolDevtools: '' } }, h('header', {}, this.title, ...header), this.nav, this.body))
    this.stop = source.subscribe(() => this.schedule())
    void this.refresh()
  }

  /** Reads a report now and renders it; resolves once it is shown. */
  refresh(): Promise<void> {
    const shown = new Promise<void>(resolve => this.waiters.push(resolve))
    if (this.reading) this.again = true
    else void this.read()
    return shown
  }

  /** Stops listening and empties `root`. */
  close(): void {
    this.closed = true
    for (const w of this.waiters.splice(0)) w()
    clearTimeout(this.timer)
    this.stop()
    this.root.replaceChildren()
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined
      void this.refresh()
    }, 100)
  }

  private async read(): Promise<void> {
    this.reading = true
    try {
      do {
        this.again = false
        const waiters = this.waiters.splice(0)
        try {
          const report = await this.source.read(this.collection)
          // the same report again (a heartbeat, a change elsewhere) leaves the panel as it is: a selection or a scroll survives
          const shown = JSON.stringify({ ...report, at: 0, picked: this.collection ?? null })
          if (!this.closed && shown !== this.shown) {
            this.report = report
            this.shown = shown
            this.render()
          }
        } catch (e) {
          if (!this.closed) this.body.replaceChildren(h('p', { className: 'error' }, `Could not read the database: ${(e as Error).message}`))
        }
        for (const w of waiters) w()
        if (this.closed) return
      } while (this.again)
    } finally {
      this.reading = false
    }
  }

  private render(): void {
    const r = this.report
    if (!r) return
    const phase = r.status?.phase ?? 'no sync'
    this.title.replaceChildren(h('b', {}, 'Tidepool'), ` ${r.name} · ${r.head.userId ?? 'no user yet'} · `, h('span', { className: 'phase', data: { phase } }, phase))
    const counts: Partial<Record<Tab, number>> = { outbox: r.outbox.length, rejections: r.rejections.length, subscriptions: r.subscriptions.length, realms: r.memberships.length, collections: r.collections.length }
    this.nav.replaceChildren(
      ...TABS.map(t =>
        h('button', { className: t === this.tab ? 'on' : '', data: { tab: t }, onclick: () => ((this.tab = t), this.render()) }, t, counts[t] !== undefined ? h('span', { className: 'count' }, String(counts[t])) : ''),
      ),
    )
    this.body.replaceChildren(h('section', { data: { section: this.tab } }, ...this.section(r)))
  }

  private section(r: DatabaseReport): Child[] {
    switch (this.tab) {
      case 'status': {
        const s = r.status
        const now = s
          ? table(['phase', 'pending', 'revision', 'last sync', 'progress', 'last error'], [[s.phase, String(s.pending), String(s.revision), time(s.lastSyncAt), s.progress ? `${s.progress.done} of ${s.progress.total}` : '', s.lastError ?? '']])
          : h('p', {}, 'This database does not sync.')
        const history = r.statusHistory
          .slice()
          .reverse()
          .map(e => [time(e.at), e.phase, String(e.pending), String(e.revision), e.lastError ?? ''])
        return [
          now,
          h('p', { className: 'muted' }, `client ${r.head.clientId} · pulled revision ${r.head.pulledRevision} · schema version ${r.head.schemaVersion}${r.head.resync ? ' · resyncing' : ''}`),
          h('h3', {}, 'History'),
          table(['at', 'phase', 'pending', 'revision', 'error'], history),
        ]
      }
      case 'collections': {
        if (!r.collections.length) return [h('p', {}, 'No documents.')]
        const rows = r.collections.map(c => {
          const name = h('button', { className: c.name === this.collection ? 'link on' : 'link', onclick: () => ((this.collection = c.name), void this.refresh()) }, c.name)
          return [name, String(c.docs), String(c.pending), String(c.deleting)]
        })
        const docs = this.collection === undefined ? [] : (r.documents?.[this.collection] ?? [])
        return [
          table(['collection', 'documents', 'pending', 'deleted locally'], rows),
          ...(this.collection === undefined
            ? [h('p', { className: 'muted' }, 'Pick a collection to see its documents.')]
            : [
                h('h3', {}, `${this.collection}: the first ${docs.length}`),
                ...docs.map(d => h('div', { className: d.pending ? 'doc pending' : 'doc', data: { id: d.id } }, h('b', {}, d.id), d.pending ? h('span', { className: 'tag' }, 'pending') : '', h('pre', {}, d.data === null ? 'deleted locally' : JSON.stringify(d.data, null, 1)))),
              ]),
        ]
      }
      case 'outbox':
        if (!r.outbox.length) return [h('p', {}, 'Nothing waits to be pushed.')]
        return r.outbox.map(m =>
          h(
            'div',
            { className: 'mutation', data: { mutation: m.id } },
            h('div', { className: 'muted' }, `#${m.seq} · ${time(m.time)} · ${m.id}`),
            ...m.ops.map(op => h('code', {}, describeOp(op, 200))),
            ...m.preconditions.map(p => h('code', { className: 'if' }, `if ${describePrecondition(p, 200)}`)),
          ),
        )
      case 'rejections':
        if (!r.rejections.length) return [h('p', {}, 'No rejections kept.')]
        return r.rejections.map(x =>
          h('div', { className: 'mutation rejected', data: { rejection: x.id } }, h('div', {}, h('b', {}, x.reason), ` ${x.message}`), h('div', { className: 'muted' }, `#${x.mutation.seq} · ${time(x.at)}`), ...x.mutation.ops.map(op => h('code', {}, describeOp(op, 200)))),
        )
      case 'subscriptions':
        if (!r.subscriptions.length) return [h('p', {}, 'No live queries or watched documents.')]
        return [table(['collection', 'what', 'results'], r.subscriptions.map(s => [s.collection, s.query ? describeQuery(s.query) : `document ${s.id}`, String(s.results)]))]
      case 'realms':
        if (!r.memberships.length) return [h('p', {}, 'The user is a member of no realm this replica holds.')]
        return [table(['realm', 'roles'], r.memberships.map(m => [m.realmId, m.roles.join(', ')]))]
      case 'stats': {
        const s = r.stats
        const ops = Object.entries(s.operations).map(([kind, d]) => [kind, String(d.count), d.p50.toFixed(2), d.p95.toFixed(2), d.max.toFixed(2)])
        const aside = Object.entries(s.keptAside)
        return [
          table(['cache hits', 'cache misses', 'writes skipped'], [[String(s.cacheHits), String(s.cacheMisses), String(s.writesSkipped)]]),
          h('h3', {}, 'Operations (ms)'),
          table(['kind', 'count', 'p50', 'p95', 'max'], ops),
          ...(aside.length ? [h('h3', {}, 'Kept aside'), table(['collection', 'documents'], aside.map(([c, n]) => [c, String(n)]))] : []),
        ]
      }
    }
  }
}
