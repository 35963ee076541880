// `npm start`: the Tidepool server on its embedded SQLite, serving the example todo app (built with Vite),
// with the example shop (a Node client on SQLite) syncing to it too.
import { fileURLToPath } from 'node:url'
import { build } from 'vite'
import { createServer } from 'tidepool/server'
import { Order, Product } from './shop/models.js'
import { runShop } from './shop/client.js'
import { DEMO_SECRET, demoToken } from './todo/demo-auth.js'
import { models as todoModels } from './todo/models.js'

const port = Number(process.env.PORT ?? 4000)
const dir = process.env.TIDEPOOL_DATA_DIR ?? '.'
const app = fileURLToPath(new URL('./todo/', import.meta.url))

await build({ configFile: `${app}vite.config.ts`, logLevel: 'warn' })
// the example's users sign in with tokens the page signs itself (see todo/demo-auth.ts): a demo, not how an app does it
const server = await createServer({ storage: `${dir}/tidepool.db`, port, models: [Product, Order, ...todoModels], static: `${app}dist`, auth: { secret: DEMO_SECRET }, devtools: true })
console.log(`Tidepool server on ${server.url} (embedded SQLite: ${dir}/tidepool.db)`)
console.log(`  health: ${server.url}/health   metrics: ${server.url}/metrics   devtools: ${server.url}/devtools (the shop's replica)\n`)

await runShop(dir, server.url, () => demoToken('shop'), true)

console.log(`\nOpen ${server.url}/ for the todo app: sign in with any name, open it in two tabs, go offline, come back; share a list and sign in as that user in another browser. ${server.url}/?devtools shows the devtools panel beside it.`)
console.log(`The server keeps running on ${server.url}: point replicas at it with openDatabase({ sync: { url: '${server.url}', token } }) (HS256 tokens signed with the demo secret). Ctrl+C stops it.`)
const stop = () => void server.close().then(() => process.exit(0))
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
