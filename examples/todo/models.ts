// The example app's models: todo lists, each in a realm of its own so that it can be shared, on every device and tab.
import { model, S } from 'tidepool'

export class TodoList extends model({
  collection: 'TodoList',
  // a list's id is also its realm's: the list and its todos live there
  fields: { name: S.str.min(1).max(60), createdAt: S.int, open: S.int.min(0) },
  indexes: [['createdAt']],
}) {}

export class Todo extends model({
  collection: 'Todo',
  fields: { list: S.str, title: S.str.min(1).max(200), done: S.bool, createdAt: S.int },
  indexes: [['list', 'createdAt']],
}) {}

export const models = [TodoList, Todo]
