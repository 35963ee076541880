// A small shop on a durable local replica, synced with a Tidepool server when given its URL.
import { join } from 'node:path'
import { openDatabase, TransactionFailedError } from 'tidepool'
import { shareDevtools } from 'tidepool/devtools'
import { sqliteStorage } from 'tidepool/sqlite'
import { Order, Product } from './models.js'

/** Runs the shop once against a replica in `dir` (synced with `url`, if given; reported to its `/devtools` page with `devtools`). */
export async function runShop(dir: string, url?: string, token?: () => Promise<string>, devtools = false): Promise<void> {
  const file = join(dir, 'example-shop.db')
  const db = await openDatabase({ name: 'shop', models: [Product, Order], storage: sqliteStorage(file), ...(url ? { sync: { url, ...(token ? { token } : {}) } } : {}) })
  console.log(`Opened ${file} as client ${db.clientId}${url ? `, syncing with ${url}` : ''}`)
  // a Node replica has no page for the devtools panel: the server's /devtools page shows what it reports
  const shared = url && devtools ? shareDevtools(db, { url, ...(token ? { token } : {}) }) : undefined

  // a live query: fires now, then whenever the set of low-stock products changes
  const stopWatchingStock = db
    .query(Product)
    .where('stock', '<', 8)
    .orderBy('stock')
    .subscribe(snap => console.log(`Low stock: ${snap.docs.map(p => p.label()).join(', ') || 'none'}`))

  // createIfMissing: the first run stocks the shop, later runs find it stocked
  await db.run(async tx => {
    const [coffee, tea] = await tx.get([Product.data({ sku: 'COF-001', name: 'Coffee', stock: 10 }), Product.data({ sku: 'TEA-001', name: 'Tea', stock: 5 })], {
      createIfMissing: true,
    })
    if (coffee!.isNew) console.log('Stocked the shop')
    void tea
  })

  // a read-modify-write transaction: reading `stock` makes the commit conditional on it
  async function placeOrder(sku: string, quantity: number): Promise<void> {
    await db.run(async tx => {
      const product = await tx.get(Product, sku)
      if (!product) throw new Error(`no product ${sku}`)
      if (product.stock < quantity) throw new Error(`only ${product.stock} ${product.name} left`)
      product.stock -= quantity
      tx.create(Order, { sku, quantity })
    })
  }

  await placeOrder('COF-001', 1)
  try {
    await placeOrder('TEA-001', 99)
  } catch (e) {
    console.log(`Order refused: ${(e as Error).message}`)
  }

  // two concurrent read-modify-writes of one document: one retries, no update is lost
  await db.run(async tx => {
    const tea = await tx.get(Product, 'TEA-001')
    tea!.stock += 10
  })
  await Promise.all([placeOrder('TEA-001', 1), placeOrder('TEA-001', 1)]).catch((e: unknown) => {
    if (e instanceof TransactionFailedError) console.log('contention:', e.message)
    else throw e
  })

  // schema enforcement
  await db
    .run(tx => {
      tx.create(Product, { sku: 'bad sku', name: 'Nothing' })
    })
    .catch((e: Error) => console.log(`Rejected: ${e.message}`))

  const products = await db.query(Product).orderBy('name').fetch()
  for (const p of products) console.log(p.label())
  console.log(`${await db.query(Product).where('stock', '>', 0).count()} products in stock (${JSON.stringify(db.query(Product).where('stock', '>', 0).explain().type)} plan)`)
  stopWatchingStock()
  if (db.sync) {
    await db.sync.syncNow()
    const { phase, pending, revision } = db.sync.status
    console.log(`Sync: ${phase}, ${pending} pending, server revision ${revision}`)
    await shared?.flush()
    shared?.stop()
  } else {
    const pending = await db.pendingMutations()
    console.log(`${pending.length} mutations wait in the outbox for a server`)
  }
  await db.close()
}
