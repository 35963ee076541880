/** The message and Background Sync tag a sync service worker answers, per replica. */
export function workerPushTag(channel: string): string {
  return `tidepool-push:${channel}`
}

/**
 * The page's side of service-worker pushes: a message wakes the worker to
 * push now, and a Background Sync registration makes the browser wake it
 * again until a push succeeds, even after the page is closed.
 */
export function askWorkerToPush(channel: string): () => void {
  const tag = workerPushTag(channel)
  return () => {
    const container = (globalThis.navigator as Navigator | undefined)?.serviceWorker
    if (!container) return
    void container.ready.then(
      async registration => {
        registration.active?.postMessage({ type: tag })
        const sync = (registration as ServiceWorkerRegistration & { sync?: { register(tag: string): Promise<void> } }).sync
        await sync?.register(tag).catch(() => undefined)
      },
      () => undefined,
    )
  }
}
