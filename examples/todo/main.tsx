// The example app: todo lists in IndexedDB, synced through the Tidepool server that serves this page, and shared between users.
import { StrictMode, type ReactNode } from 'react'
import { createRoot } from 'react-dom/client'
import { openDatabase, WrongUserError, type Database } from 'tidepool'
import { indexedDbStorage } from 'tidepool/indexeddb'
import { TidepoolProvider } from 'tidepool/react'
import { App, SignIn, USER_KEY, WrongUser } from './app.js'
import { demoToken } from './demo-auth.js'
import { models } from './models.js'

const root = createRoot(document.getElementById('app')!)
const show = (node: ReactNode) => root.render(<StrictMode>{node}</StrictMode>)

/** Who uses this browser: remembered, or asked once. */
function signedInUser(): Promise<string> {
  const known = localStorage.getItem(USER_KEY)
  if (known) return Promise.resolve(known)
  return new Promise(resolve =>
    show(
      <SignIn
        onSignIn={user => {
          localStorage.setItem(USER_KEY, user)
          resolve(user)
        }}
      />,
    ),
  )
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
    show(<WrongUser owner={e.owner} user={user} />)
    return new Promise<never>(() => undefined)
  }
}

// opened once, before the first render: the components read it from the provider and never wait for it
const db = await openTodos()
show(
  <TidepoolProvider db={db}>
    <App user={user} />
  </TidepoolProvider>,
)
// the devtools panel only on /?devtools: a chunk of its own, which the app never loads otherwise
if (new URLSearchParams(location.search).has('devtools')) {
  const { mountDevtools } = await import('tidepool/devtools')
  mountDevtools(db)
}
