// A small shop on a durable local replica: run `npm start` (again and again — the data stays).
import { join } from 'node:path'
import { S, model, openDatabase, TransactionFailedError } from 'tidepool'
import { sqliteStorage } from 'tidepool/sqlite'

class Product extends model({
  collection: 'Product',
  key: { sku: S.str.pattern(/^[A-Z]{3}-\d{3}$/) },
  fields: {
    name: S.str.min(1),
    stock: S.int.min(0).default(0),
    tags: S.arr(S.str).default([]),
  },
  indexes: [['stock']],
}) {
  label(): string {
    return `${this.name} (${this.stock} in stock)`
  }
}

class Order extends model({
  collection: 'Order',
  fields: { sku: S.str, quantity: S.int.min(1), placedAt: S.int.default(0) },
}) {
  override async finalize(): Promise<void> {
    this.placedAt ||= Date.now()
  }
}

const file = join(process.env.TIDEPOOL_DATA_DIR ?? '.', 'example-shop.db')
const db = await openDatabase({ name: 'shop', models: [Product, Order], storage: sqliteStorage(file) })
console.log(`Opened ${file} as client ${db.clientId}`)

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
const pending = await db.pendingMutations()
console.log(`${pending.length} mutations wait in the outbox for a server (seq ${pending[0]?.seq}…${pending.at(-1)?.seq})`)
await db.close()
