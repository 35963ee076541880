/**
 * Where serverless sync keeps its files: a folder, a WebDAV share, memory.
 * Paths are relative, `/`-separated, without a leading slash. Stores know
 * nothing of Tidepool; the layout lives in layout.ts.
 */
export interface FileStore {
  /** The store's address, for messages and share URLs (`file://…`, `https://…`, `memory://…`). */
  readonly url: string
  /** Every file under `prefix` (a folder path ending in `/`, or '' for all), recursively. */
  list(prefix: string): Promise<string[]>
  /** The file's text, or undefined when it does not exist. */
  read(path: string): Promise<string | undefined>
  /** Writes the whole file; readers see the old or the new content, never a mix, where the store can rename. */
  write(path: string, data: string): Promise<void>
  delete(path: string): Promise<void>
}

/** A store that counts what crosses it: how much a sync read and wrote. */
export class CountingStore implements FileStore {
  bytesRead = 0
  bytesWritten = 0
  reads = 0

  constructor(readonly inner: FileStore) {}

  get url(): string {
    return this.inner.url
  }

  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix)
  }

  async read(path: string): Promise<string | undefined> {
    const text = await this.inner.read(path)
    this.reads++
    this.bytesRead += text === undefined ? 0 : byteLength(text)
    return text
  }

  async write(path: string, data: string): Promise<void> {
    await this.inner.write(path, data)
    this.bytesWritten += byteLength(data)
  }

  delete(path: string): Promise<void> {
    return this.inner.delete(path)
  }
}

export function byteLength(text: string): number {
  return new TextEncoder().encode(text).length
}

/** Files in memory, for tests and for trying things out. */
export function memoryFileStore(name = 'files'): FileStore {
  const files = new Map<string, string>()
  return {
    url: `memory://${name}`,
    async list(prefix) {
      return [...files.keys()].filter(p => p.startsWith(prefix)).sort()
    },
    async read(path) {
      return files.get(path)
    },
    async write(path, data) {
      files.set(path, data)
    },
    async delete(path) {
      files.delete(path)
    },
  }
}
