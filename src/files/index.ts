// tidepool/files: serverless sync through file stores.
export { folderStore } from './folder.js'
export { webdavStore, type WebdavOptions } from './webdav.js'
export { memoryFileStore, type FileStore } from './store.js'
export { FileSync, type FileSyncOptions, type FileSyncProgress, type FileSyncReport } from './file-sync.js'
export { CorruptFileError } from '../core/errors.js'
