// The React test page: components on tidepool/react over an IndexedDB replica, with render counts; gives the tests `window.rp`.
import { createElement as h, memo, StrictMode, useState } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { flushSync } from 'react-dom'
import { openDatabase, type Database } from 'tidepool'
import { indexedDbStorage } from 'tidepool/indexeddb'
import { TidepoolProvider, useDoc, useQuery, useSyncStatus } from 'tidepool/react'
import { models, Todo, TodoList } from '../../examples/todo/models.js'

let db: Database | undefined
let root: Root | undefined
/** Renders of each component, and how often a component made its query (once per mount: Strict Mode's second mount reuses it). */
const renders: Record<string, number> = {}
let queriesMade = 0
let setList: (list: string) => void = () => undefined

const counted = (name: string) => (renders[name] = (renders[name] ?? 0) + 1)

// memo: a parent's render does not render it; only its own hook does
const Titles = memo(function Titles(props: { list: string; name: string }) {
  counted(props.name)
  const snap = useQuery(() => {
    queriesMade++
    return db!.query(Todo).where('list', '==', props.list).orderBy('createdAt')
  }, [props.list])
  return h('ul', { id: props.name, 'data-state': snap ? 'ready' : 'loading' }, snap?.docs.map(t => h('li', { key: t.id }, t.title)))
})

function ListName() {
  counted('name')
  const list = useDoc(TodoList, 'home')
  return h('p', { id: 'name' }, list === undefined ? 'loading' : list === null ? 'none' : list.name)
}

function Status() {
  counted('status')
  const status = useSyncStatus()
  return h('p', { id: 'status' }, status?.phase ?? 'no sync')
}

function App() {
  const [list, set] = useState('home')
  setList = l => flushSync(() => set(l))
  return h('main', null, h(Titles, { list, name: 'titles' }), h(Titles, { list: 'other', name: 'other' }), h(ListName), h(Status))
}

const rp = {
  async open(o: { name: string; sync: boolean; strict?: boolean }): Promise<void> {
    db = await openDatabase({ name: o.name, models, storage: indexedDbStorage(o.name), ...(o.sync ? { sync: { url: location.origin, pollInterval: 60_000 } } : {}) })
    const el = document.createElement('div')
    document.body.append(el)
    root = createRoot(el)
    const tree = h(TidepoolProvider, { db }, h(App))
    root.render(o.strict ? h(StrictMode, null, tree) : tree)
  },
  async add(list: string, title: string, createdAt = Date.now()): Promise<void> {
    await db!.run(async tx => {
      await tx.get(TodoList, { id: list, name: list, createdAt, open: 0 }, { createIfMissing: true })
      tx.create(Todo, { id: `${list}/${title}`, list, title, done: false, createdAt })
    })
  },
  async rename(list: string, name: string): Promise<void> {
    await db!.run(async tx => void ((await tx.get(TodoList, list))!.name = name))
  },
  show(list: string): void {
    setList(list)
  },
  /** What the page shows, and the render counts. */
  shown(): { titles: string[]; titlesState: string; other: string[]; name: string; status: string; renders: Record<string, number>; queriesMade: number } {
    const items = (id: string) => [...document.querySelectorAll(`#${id} li`)].map(li => li.textContent ?? '')
    return {
      titles: items('titles'),
      titlesState: document.querySelector('#titles')?.getAttribute('data-state') ?? '',
      other: items('other'),
      name: document.querySelector('#name')?.textContent ?? '',
      status: document.querySelector('#status')?.textContent ?? '',
      renders: { ...renders },
      queriesMade,
    }
  },
  async close(): Promise<void> {
    root?.unmount()
    await db?.close()
  },
}
export type ReactTestPage = typeof rp
;(window as unknown as { rp: ReactTestPage }).rp = rp
