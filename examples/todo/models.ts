// The example app's models: several todo lists, shared by every device and tab.
import { model, S } from 'tidepool'

export class TodoList extends model({
  collection: 'TodoList',
  // the id is the list's name in lower case: two devices that create "Groceries" offline collide, and the server rejects the second
  fields: { name: S.str.min(1).max(60), createdAt: S.int, open: S.int.min(0) },
  indexes: [['createdAt']],
}) {}

export class Todo extends model({
  collection: 'Todo',
  fields: { list: S.str, title: S.str.min(1).max(200), done: S.bool, createdAt: S.int },
  indexes: [['list', 'createdAt']],
}) {}

export const models = [TodoList, Todo]

export function listId(name: string): string {
  return name.trim().toLowerCase().replace(/\s+/g, '-')
}
