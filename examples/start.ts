// `npm start`: the Tidepool server on its embedded SQLite, with the example shop syncing to it.
import { createServer } from 'tidepool/server'
import { Order, Product } from './shop/models.js'
import { runShop } from './shop/client.js'

const port = Number(process.env.PORT ?? 4000)
const dir = process.env.TIDEPOOL_DATA_DIR ?? '.'
const server = await createServer({ storage: `${dir}/tidepool.db`, port, models: [Product, Order] })
console.log(`Tidepool server on ${server.url} (embedded SQLite: ${dir}/tidepool.db)`)
console.log(`  health: ${server.url}/health   metrics: ${server.url}/metrics\n`)

await runShop(dir, server.url)

console.log(`\nThe server keeps running on ${server.url}: point replicas at it with openDatabase({ sync: { url: '${server.url}' } }). Ctrl+C stops it.`)
const stop = () => void server.close().then(() => process.exit(0))
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
