// tidepool/files in browsers: everything but folderStore, which needs Node's file system.
import { InvalidOptionsError } from '../core/errors.js'
import type { FileStore } from './store.js'

export { webdavStore, type WebdavOptions } from './webdav.js'
export { memoryFileStore, type FileStore } from './store.js'
export { FileSync, type FileSyncOptions, type FileSyncProgress, type FileSyncReport } from './file-sync.js'
export { CorruptFileError } from '../core/errors.js'

export function folderStore(_path: string): FileStore {
  throw new InvalidOptionsError('files', 'folderStore needs Node (a file system); in a browser use webdavStore')
}
