// The example app's components, on tidepool/react: each reads what it shows through a live hook, and re-renders when that changes.
import { createContext, useCallback, useContext, useState, useSyncExternalStore, type FormEvent, type ReactNode } from 'react'
import { Member, Realm, type Transaction } from 'tidepool'
import { useDatabase, useQuery, useRejections, useSyncStatus } from 'tidepool/react'
import { Todo, TodoList } from './models.js'

export const USER_KEY = 'tidepool-todo-user'

/** Runs a transaction; what it cannot do is shown as a notice, not thrown. Resolves with whether it committed. */
type Attempt = (fn: (tx: Transaction) => Promise<void> | void) => Promise<boolean>

const AttemptContext = createContext<Attempt>(() => Promise.resolve(false))

/** The page around each state of the app: before sign-in, for a browser that holds another user's lists, and signed in. */
function Page(props: { status?: ReactNode; user?: string; onSignOut?: () => void; children?: ReactNode }): ReactNode {
  return (
    <>
      <header>
        <h1>Tidepool todos</h1>
        {props.status ?? <StatusBadge phase="connecting" text="connecting" />}
        <span className="who">
          <span id="user">{props.user}</span>{' '}
          {props.onSignOut && (
            <button id="sign-out" onClick={props.onSignOut}>
              Sign out
            </button>
          )}
        </span>
      </header>
      {props.children}
      <footer>Works offline, and in several tabs: open this page twice. Only one tab talks to the server. Share a list with another user, and sign in as them in another browser.</footer>
    </>
  )
}

function Notice(props: { text: string; action: string; onAction: () => void }): ReactNode {
  return (
    <div className="notice">
      <span>{props.text}</span>
      <button onClick={props.onAction}>{props.action}</button>
    </div>
  )
}

/** Text of a form's field, trimmed; the form is emptied at once, so that the next entry can be typed while this one commits. */
function take(e: FormEvent<HTMLFormElement>, field: string): { value: string; data: FormData } {
  e.preventDefault()
  const data = new FormData(e.currentTarget)
  e.currentTarget.reset()
  return { value: String(data.get(field) ?? '').trim(), data }
}

export function SignIn(props: { onSignIn: (user: string) => void }): ReactNode {
  return (
    <Page>
      <form
        id="sign-in"
        onSubmit={e => {
          const { value } = take(e, 'user')
          if (value) props.onSignIn(value)
        }}
      >
        <input name="user" placeholder="Your user name (for this demo, any name)" maxLength={60} autoComplete="off" required />
        <button>Sign in</button>
      </form>
    </Page>
  )
}

export function WrongUser(props: { owner: string; user: string }): ReactNode {
  const { owner, user } = props
  const back = () => {
    localStorage.setItem(USER_KEY, owner)
    location.reload()
  }
  return (
    <Page>
      <div id="notices">
        <Notice text={`This browser holds the lists of ${owner}. Continue as ${owner} and sign out, then sign in as ${user}.`} action={`Continue as ${owner}`} onAction={back} />
      </div>
    </Page>
  )
}

function StatusBadge(props: { phase: string; text: string; title?: string }): ReactNode {
  return (
    <span id="status" className="status" data-phase={props.phase} title={props.title}>
      {props.text}
    </span>
  )
}

/** Sync status: phase, what waits to be pushed, and whether this tab holds the connection. */
function Status(): ReactNode {
  const db = useDatabase()
  const s = useSyncStatus()
  if (!s) return <StatusBadge phase="connecting" text="connecting" />
  const pending = s.pending ? ` · ${s.pending} to push` : ''
  return <StatusBadge phase={s.phase} text={`${s.phase}${pending} · ${db.sync?.leader ? 'this tab syncs' : 'another tab syncs'}`} title={s.lastError} />
}

/** The list picked, in the page's address: a reload (or the back button) keeps it. */
function useHash(): string {
  return useSyncExternalStore(followHash, readHash)
}
function followHash(changed: () => void): () => void {
  window.addEventListener('hashchange', changed)
  return () => window.removeEventListener('hashchange', changed)
}
function readHash(): string {
  try {
    return decodeURIComponent(location.hash.slice(1))
  } catch {
    return ''
  }
}
const select = (id: string) => void (location.hash = encodeURIComponent(id))

let noticeIds = 0

export function App(props: { user: string }): ReactNode {
  const { user } = props
  const db = useDatabase()
  const [errors, setErrors] = useState<Array<{ id: number; text: string }>>([])
  const attempt = useCallback<Attempt>(
    async fn => {
      try {
        await db.run(fn)
        return true
      } catch (e) {
        const text = e instanceof Error ? e.message : String(e)
        setErrors(es => [...es, { id: ++noticeIds, text }])
        return false
      }
    },
    [db],
  )
  const lists = useQuery(() => db.query(TodoList).orderBy('createdAt'), [db])
  const selected = useHash()
  const list = lists?.docs.find(l => l.id === selected)

  const signOut = async () => {
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

  const addList = (e: FormEvent<HTMLFormElement>) => {
    const { value: name } = take(e, 'name')
    // a list is a realm: it can be shared, and its todos go with it
    const id = crypto.randomUUID()
    void attempt(tx => {
      tx.create(Realm, { id, name })
      tx.create(TodoList, { id, realmId: id, name, createdAt: Date.now(), open: 0 })
    }).then(ok => ok && select(id))
  }

  return (
    <AttemptContext.Provider value={attempt}>
      <Page status={<Status />} user={user} onSignOut={() => void signOut()}>
        <div id="notices">
          <Rejections />
          {errors.map(n => (
            <Notice key={n.id} text={n.text} action="Dismiss" onAction={() => setErrors(es => es.filter(e => e.id !== n.id))} />
          ))}
        </div>
        <main>
          <nav>
            <ul id="lists">
              {lists?.docs.map(l => (
                // lists are told apart by id: two may share a name
                <li key={l.id} data-id={l.id} className={l.id === selected ? 'selected' : undefined} onClick={() => select(l.id)}>
                  <span>{l.name}</span>
                  <span className="count">{l.open}</span>
                </li>
              ))}
            </ul>
            <form id="new-list" onSubmit={addList}>
              <input name="name" placeholder="New list" maxLength={60} autoComplete="off" required />
              <button>Add list</button>
            </form>
          </nav>
          {list ? (
            <ListView list={list} user={user} />
          ) : (
            <section>
              <h2 id="list-title">Pick or add a list</h2>
              <p id="members" className="members" />
            </section>
          )}
        </main>
      </Page>
    </AttemptContext.Provider>
  )
}

/** Rejected writes: kept by the replica until dismissed, in every tab. */
function Rejections(): ReactNode {
  const rejections = useRejections()
  return rejections?.map(r => (
    <Notice key={r.id} text={`The server refused a change (${r.reason}): ${r.message}. It was undone here.`} action="Dismiss" onAction={() => void r.ack()} />
  ))
}

function ListView(props: { list: Readonly<TodoList>; user: string }): ReactNode {
  const { list, user } = props
  const db = useDatabase()
  const attempt = useContext(AttemptContext)
  const members = useQuery(() => db.query(Member).where('realmId', '==', list.id), [db, list.id])
  const todos = useQuery(() => db.query(Todo).where('list', '==', list.id).orderBy('createdAt'), [db, list.id])
  // what this user may do here: the server enforces it, the page only shows it
  const mine = members?.docs.find(m => m.userId === user)?.roles ?? []
  const admin = mine.includes('admin')
  const writable = admin || mine.includes('write')
  const others = members?.docs.filter(m => m.userId !== user) ?? []

  const addTodo = (e: FormEvent<HTMLFormElement>) => {
    const { value: title } = take(e, 'title')
    void attempt(async tx => {
      tx.create(Todo, { id: crypto.randomUUID(), realmId: list.id, list: list.id, title, done: false, createdAt: Date.now() })
      ;(await tx.get(TodoList, list.id))?.getField('open').incrementBy(1)
    })
  }

  const share = (e: FormEvent<HTMLFormElement>) => {
    const { value: userId, data } = take(e, 'user')
    const roles = data.get('role') === 'write' ? ['write' as const] : ['read' as const]
    if (userId) void attempt(tx => void tx.createOrOverwrite(Member, { realmId: list.id, userId, roles }))
  }

  return (
    <section>
      <h2 id="list-title">{list.name}</h2>
      {writable && (
        <form id="new-todo" onSubmit={addTodo}>
          <input name="title" placeholder="What needs doing?" maxLength={200} autoComplete="off" required />
          <button>Add</button>
        </form>
      )}
      <ul id="todos">
        {todos?.docs.map(t => (
          <TodoItem key={t.id} todo={t} writable={writable} />
        ))}
      </ul>
      {admin && (
        <form id="share" onSubmit={share}>
          <input name="user" placeholder="Share with user…" maxLength={60} autoComplete="off" required />
          <select name="role">
            <option value="write">can edit</option>
            <option value="read">read-only</option>
          </select>
          <button>Share</button>
        </form>
      )}
      {/* shown once the members are read, so that a writer never sees "You can read this list" first */}
      <p id="members" className="members">
        {members && (
          <>
            {writable ? '' : 'You can read this list. '}
            {others.length ? 'Shared with ' : 'Only you'}
            {others.map(m => (
              <span key={m.userId} className="member">
                {`${m.userId} (${m.roles.includes('admin') ? 'admin' : m.roles.includes('write') ? 'can edit' : 'read-only'})`}
                {admin && (
                  <button title={`Stop sharing with ${m.userId}`} onClick={() => void attempt(tx => tx.delete(m))}>
                    ×
                  </button>
                )}
              </span>
            ))}
          </>
        )}
      </p>
    </section>
  )
}

function TodoItem(props: { todo: Readonly<Todo>; writable: boolean }): ReactNode {
  const { todo, writable } = props
  const attempt = useContext(AttemptContext)
  // the box turns at once and the document follows when the transaction commits; a box held by React alone would turn back until then
  const [checked, setChecked] = useState(todo.done)
  const [shown, setShown] = useState(todo.done)
  if (shown !== todo.done) {
    // another tab, device or a rejection changed it: the box follows the document
    setShown(todo.done)
    setChecked(todo.done)
  }

  const toggle = () => {
    setChecked(!checked)
    void attempt(async tx => {
      const t = await tx.get(Todo, todo.id)
      const list = await tx.get(TodoList, t!.list)
      t!.done = !t!.done
      // an increment never conflicts with other devices' increments
      list?.getField('open').incrementBy(t!.done ? -1 : 1)
    }).then(ok => {
      if (!ok) setChecked(todo.done)
    })
  }

  const remove = () =>
    void attempt(async tx => {
      const t = await tx.get(Todo, todo.id)
      if (!t) return
      if (!t.done) (await tx.get(TodoList, t.list))?.getField('open').incrementBy(-1)
      tx.delete(t)
    })

  return (
    <li className={todo.done ? 'done' : undefined}>
      <input type="checkbox" checked={checked} disabled={!writable} onChange={toggle} />
      <span>{todo.title}</span>
      {writable && <button onClick={remove}>Delete</button>}
    </li>
  )
}
