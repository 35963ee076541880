export { sqliteStorage, type SqliteStorageOptions } from './replica/sqlite.js'
