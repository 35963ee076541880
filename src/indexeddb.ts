export { indexedDbStorage, type IndexedDbStorageOptions } from './replica/indexeddb.js'
