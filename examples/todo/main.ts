// The example app: todo lists in IndexedDB, synced through the Tidepool server that serves this page, and shared between users.
import { Member, openDatabase, Realm, WrongUserError, type Database, type SyncStatus, type Transaction } from 'tidepool'
import { indexedDbStorage } from 'tidepool/indexeddb'
import { demoToken } from './demo-auth.js'
import { models, Todo, TodoList } from './models.js'

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

const USER_KEY = 'tidepool-todo-user'

/** Who uses this browser: remembered, or asked once. */
function signedInUser(): Promise<string> {
  const known = localStorage.getItem(USER_KEY)
  if (known) return Promise.resolve(known)
  const form = $<HTMLFormElement>('sign-in')
  form.hidden = false
  return new Promise(resolve => {
    form.onsubmit = e => {
      e.preventDefault()
      const user = String(new FormData(form).get('user')).trim()
      if (!user) return
      localStorage.setItem(USER_KEY, user)
      form.hidden = true
      resolve(user)
    }
  })
}

const user = await signedInUser()
// signed out (or in as someone else) in another tab: this tab follows
window.addEventListener('storage', e => e.key === USER_KEY && location.reload())

async function openTodos(): Promise<Database> {
  try {
    return await openDatabase({ name: 'todos', models, storage: indexedDbStorage('tidepool-todo'), sync: { url: location.origin, token: () => demoToken(user) } })
  } catch (e) {
    if (!(e instanceof WrongUserError)) throw e
    // this browser holds another user's data (and maybe their unsynced changes): they sign out first
    const back = el('button', { textContent: `Continue as ${e.owner}`, onclick: () => (localStorage.setItem(USER_KEY, e.owner), location.reload()) })
    $('notices').append(el('div', { className: 'notice' }, el('span', { textContent: `This browser holds the lists of ${e.owner}. Continue as ${e.owner} and sign out, then sign in as ${user}.` }), back))
    return new Promise<never>(() => undefined)
  }
}

const db = await openTodos()
$('user').textContent = user
$('sign-out').hidden = false
$('sign-out').onclick = async () => {
  // what is not pushed yet is pushed first; offline, the user chooses
  try {
    await db.signOut({ pending: 'push' })
  } catch {
    if (!confirm('Some changes could not reach the server. Sign out and lose them?')) return
    await db.signOut({ pending: 'discard' })
  }
  localStorage.removeItem(USER_KEY)
  location.reload()
}


function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, unknown> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props)
  node.append(...children)
  return node
}

function notice(text: string, onDismiss?: () => void): void {
  const box = el('div', { className: 'notice' }, el('span', { textContent: text }))
  box.append(
    el('button', {
      textContent: 'Dismiss',
      onclick: () => {
        box.remove()
        onDismiss?.()
      },
    }),
  )
  $('notices').append(box)
}

/** Runs a transaction; what it cannot do is shown, not thrown. */
async function attempt(fn: (tx: Transaction) => Promise<void> | void): Promise<void> {
  try {
    await db.run(fn)
  } catch (e) {
    notice((e as Error).message)
  }
}

// --- sync status: phase, what waits to be pushed, and whether this tab holds the connection
function showStatus(s: SyncStatus): void {
  const badge = $('status')
  badge.dataset.phase = s.phase
  const pending = s.pending ? ` · ${s.pending} to push` : ''
  badge.textContent = `${s.phase}${pending} · ${db.sync!.leader ? 'this tab syncs' : 'another tab syncs'}`
  badge.title = s.lastError ?? ''
}
db.sync!.subscribe(showStatus)

// --- rejected writes: kept by the replica until dismissed, in every tab
const shown = new Set<string>()
function showRejection(r: { id: string; reason: string; message: string; ack(): Promise<void> }): void {
  if (shown.has(r.id)) return
  shown.add(r.id)
  notice(`The server refused a change (${r.reason}): ${r.message}. It was undone here.`, () => void r.ack())
}
for (const r of await db.rejections()) showRejection(r)
db.on('rejected', showRejection)

// --- lists
let selected = decodeURIComponent(location.hash.slice(1))
let stopTodos: (() => void) | undefined
let stopMembers: (() => void) | undefined

db.query(TodoList)
  .orderBy('createdAt')
  .subscribe(({ docs }) => {
    $('lists').replaceChildren(
      ...docs.map(l => {
        const li = el(
          'li',
          { className: l.id === selected ? 'selected' : '', onclick: () => select(l.id, l.name) },
          el('span', { textContent: l.name }),
          el('span', { className: 'count', textContent: String(l.open) }),
        )
        // lists are told apart by id: two may share a name
        li.dataset.id = l.id
        return li
      }),
    )
    const current = docs.find(l => l.id === selected)
    if (current && !stopTodos) select(current.id, current.name)
  })

function select(id: string, name: string): void {
  selected = id
  location.hash = encodeURIComponent(id)
  for (const li of $<HTMLUListElement>('lists').children) li.classList.toggle('selected', (li as HTMLElement).dataset.id === id)
  $('list-title').textContent = name
  stopMembers?.()
  stopMembers = db
    .query(Member)
    .where('realmId', '==', id)
    .subscribe(({ docs }) => {
      // what this user may do here: the server enforces it, the page only shows it
      const mine = docs.find(m => m.userId === user)?.roles ?? []
      const admin = mine.includes('admin')
      writable = admin || mine.includes('write')
      $<HTMLFormElement>('new-todo').hidden = !writable
      $<HTMLFormElement>('share').hidden = !admin
      showTodos()
      const others = docs.filter(m => m.userId !== user)
      $('members').replaceChildren(
        writable ? '' : 'You can read this list. ',
        others.length ? 'Shared with ' : 'Only you',
        ...others.map(m =>
          el(
            'span',
            { className: 'member' },
            `${m.userId} (${m.roles.includes('admin') ? 'admin' : m.roles.includes('write') ? 'can edit' : 'read-only'})`,
            ...(admin ? [el('button', { textContent: '×', title: `Stop sharing with ${m.userId}`, onclick: () => attempt(tx => tx.delete(m)) })] : []),
          ),
        ),
      )
    })
  stopTodos?.()
  stopTodos = db
    .query(Todo)
    .where('list', '==', id)
    .orderBy('createdAt')
    .subscribe(({ docs }) => {
      todos = docs
      showTodos()
    })
}

let writable = false
let todos: ReadonlyArray<Readonly<Todo>> = []
function showTodos(): void {
  $('todos').replaceChildren(...todos.map(todoItem))
}

function todoItem(t: Readonly<Todo>): HTMLLIElement {
  const box = el('input', { type: 'checkbox', checked: t.done, disabled: !writable })
  box.onchange = () =>
    attempt(async tx => {
      const todo = await tx.get(Todo, t.id)
      const list = await tx.get(TodoList, todo!.list)
      todo!.done = !todo!.done
      // an increment never conflicts with other devices' increments
      list?.getField('open').incrementBy(todo!.done ? -1 : 1)
    })
  const remove = el('button', { textContent: 'Delete', hidden: !writable })
  remove.onclick = () =>
    attempt(async tx => {
      const todo = await tx.get(Todo, t.id)
      if (!todo) return
      if (!todo.done) (await tx.get(TodoList, todo.list))?.getField('open').incrementBy(-1)
      tx.delete(todo)
    })
  return el('li', { className: t.done ? 'done' : '' }, box, el('span', { textContent: t.title }), remove)
}

$<HTMLFormElement>('new-list').onsubmit = e => {
  e.preventDefault()
  const form = e.target as HTMLFormElement
  const name = String(new FormData(form).get('name')).trim()
  form.reset()
  // a list is a realm: it can be shared, and its todos go with it
  const id = crypto.randomUUID()
  void attempt(tx => {
    tx.create(Realm, { id, name })
    tx.create(TodoList, { id, realmId: id, name, createdAt: Date.now(), open: 0 })
  }).then(() => select(id, name))
}

$<HTMLFormElement>('share').onsubmit = e => {
  e.preventDefault()
  const form = e.target as HTMLFormElement
  const data = new FormData(form)
  const userId = String(data.get('user')).trim()
  const roles = data.get('role') === 'write' ? (['write'] as const) : (['read'] as const)
  form.reset()
  if (userId) void attempt(tx => void tx.createOrOverwrite(Member, { realmId: selected, userId, roles: [...roles] }))
}

$<HTMLFormElement>('new-todo').onsubmit = e => {
  e.preventDefault()
  const form = e.target as HTMLFormElement
  const title = String(new FormData(form).get('title')).trim()
  form.reset()
  const list = selected
  void attempt(async tx => {
    tx.create(Todo, { id: crypto.randomUUID(), realmId: list, list, title, done: false, createdAt: Date.now() })
    ;(await tx.get(TodoList, list))?.getField('open').incrementBy(1)
  })
}
