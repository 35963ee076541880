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
  /** Deletes the file; deleting one that does not exist is no error. */
  delete(path: string): Promise<void>
  /**
   * Optional, where the store can: the file's text with a version tag (an
   * ETag; undefined when the store gives none), and a write that succeeds
   * only while the file still has that version (`undefined`: only while it
   * does not exist), returning false when another writer came first.
   */
  readVersioned?(path: string): Promise<{ text: string; version: string | undefined } | undefined>
  /** Optional, with `readVersioned`: writes the file only while it still has `version` (see above); false when another writer came first. */
  writeIfUnchanged?(path: string, data: string, version: string | undefined): Promise<boolean>
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

  get conditional(): boolean {
    return !!this.inner.readVersioned && !!this.inner.writeIfUnchanged
  }

  async readVersioned(path: string): Promise<{ text: string; version: string | undefined } | undefined> {
    const r = await this.inner.readVersioned!(path)
    this.reads++
    this.bytesRead += r ? byteLength(r.text) : 0
    return r
  }

  async writeIfUnchanged(path: string, data: string, version: string | undefined): Promise<boolean> {
    const ok = await this.inner.writeIfUnchanged!(path, data, version)
    if (ok) this.bytesWritten += byteLength(data)
    return ok
  }
}

export function byteLength(text: string): number {
  return new TextEncoder().encode(text).length
}

/** Files in memory, for tests and for trying things out. */
export function memoryFileStore(name = 'files'): FileStore {
  const files = new Map<string, string>()
  const versions = new Map<string, number>()
  let clock = 0
  const tick = () => {
    // a turn of the event loop between reading and writing, as any real store has
    return new Promise<void>(resolve => setTimeout(resolve, 0))
  }
  return {
    async readVersioned(path) {
      await tick()
      const text = files.get(path)
      return text === undefined ? undefined : { text, version: String(versions.get(path)) }
    },
    async writeIfUnchanged(path, data, version) {
      await tick()
      const current = files.has(path) ? String(versions.get(path)) : undefined
      if (current !== version) return false
      files.set(path, data)
      versions.set(path, ++clock)
      return true
    },
    url: `memory://${name}`,
    async list(prefix) {
      return [...files.keys()].filter(p => p.startsWith(prefix)).sort()
    },
    async read(path) {
      return files.get(path)
    },
    async write(path, data) {
      files.set(path, data)
      versions.set(path, ++clock)
    },
    async delete(path) {
      files.delete(path)
    },
  }
}
