// tidepool/testing: the conformance suites that every storage adapter, file store and server store must pass.
export type { TestApi } from './api.js'
export { describeStorage, type StorageFactory } from './storage.js'
export { describeFileStore, type FileStoreFactory } from './file-store.js'
export { describeServerStore, type ServerStoreFactory } from './server-store.js'
