import { S, model } from 'tidepool'

export class Product extends model({
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

export class Order extends model({
  collection: 'Order',
  fields: { sku: S.str, quantity: S.int.min(1), placedAt: S.int.default(0) },
}) {
  override async finalize(): Promise<void> {
    this.placedAt ||= Date.now()
  }
}
