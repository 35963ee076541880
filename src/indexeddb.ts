export { indexedDbStorage, type IndexedDbStorage, type IndexedDbStorageOptions } from './replica/indexeddb.js'
