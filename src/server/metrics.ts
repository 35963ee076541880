import client from 'prom-client'

/** What a scrape reads from the parts of the server that keep their own counts. */
export interface Readings {
  sockets: number
  socketsBufferedBytes: number
  socketsOpened: number
  socketsDropped: number
  socketsRenewed: number
  pokesInline: number
  pokesPlain: number
  revision: number
  revisionTold: number
  commitBatches: number
  batchedPushes: number
  commitsHeard: number
  catchUps: number
  listenConnected: number
  compactions: number
  compactionHorizon: number
  compactedRows: number
  requestsInFlight: number
  shed: number
  eventLoopBusyPercent: number
}

type Kind = 'gauge' | 'counter'
const READ: Array<[keyof Readings, string, Kind, string]> = [
  ['sockets', 'tidepool_sockets', 'gauge', 'Poke sockets open'],
  ['socketsBufferedBytes', 'tidepool_sockets_buffered_bytes', 'gauge', 'Bytes the open sockets have not sent yet'],
  ['socketsOpened', 'tidepool_sockets_opened_total', 'counter', 'Poke sockets opened'],
  ['socketsDropped', 'tidepool_sockets_dropped_total', 'counter', 'Poke sockets closed for reading too slowly'],
  ['socketsRenewed', 'tidepool_sockets_renewed_total', 'counter', 'Tokens renewed over open sockets'],
  ['pokesInline', 'tidepool_pokes_inline_total', 'counter', 'Pokes sent with their changes (applied without a pull)'],
  ['pokesPlain', 'tidepool_pokes_plain_total', 'counter', 'Pokes sent without changes (the client pulls)'],
  ['revision', 'tidepool_revision', 'gauge', "The database's revision"],
  ['revisionTold', 'tidepool_revision_told', 'gauge', 'The revision this server has told its sockets of'],
  ['commitBatches', 'tidepool_commit_batches_total', 'counter', 'Group commits (one durable transaction each)'],
  ['batchedPushes', 'tidepool_batched_pushes_total', 'counter', 'Pushes the group commits held'],
  ['commitsHeard', 'tidepool_commits_heard_total', 'counter', "Other servers' commits heard on the commit channel"],
  ['catchUps', 'tidepool_catch_ups_total', 'counter', "Reads of commits this server did not make, to poke its sockets"],
  ['listenConnected', 'tidepool_listen_connected', 'gauge', "1 while the commit channel's LISTEN connection is up"],
  ['compactions', 'tidepool_compactions_total', 'counter', 'History compactions run'],
  ['compactionHorizon', 'tidepool_compaction_horizon', 'gauge', 'The revision history is kept from'],
  ['compactedRows', 'tidepool_compacted_rows_total', 'counter', 'Tombstones, exits, outcomes and memberships forgotten'],
  ['requestsInFlight', 'tidepool_requests_in_flight', 'gauge', 'Push and pull requests being answered'],
  ['shed', 'tidepool_shed_total', 'counter', 'Requests and sockets answered 503 (over a limit, or draining)'],
  ['eventLoopBusyPercent', 'tidepool_event_loop_busy_percent', 'gauge', 'The share of the last five seconds the event loop was busy'],
]

/** Seconds, from a millisecond to ten seconds: where push and pull latencies fall. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]

/**
 * The server's Prometheus metrics (prom-client, a registry of its own so
 * several servers in one process keep theirs apart): request counts and
 * latency histograms kept here, the rest read from their owners at scrape,
 * and the process's default metrics.
 */
export class ServerMetrics {
  private readonly registry = new client.Registry()
  private current: Readings | undefined
  readonly pushes: client.Counter
  readonly applied: client.Counter
  readonly rejected: client.Counter
  readonly pulls: client.Counter
  readonly errors: client.Counter
  readonly pushSeconds: client.Histogram
  readonly pullSeconds: client.Histogram

  constructor(private readonly read: () => Promise<Readings>) {
    const registers = [this.registry]
    client.collectDefaultMetrics({ register: this.registry })
    this.pushes = new client.Counter({ name: 'tidepool_pushes_total', help: 'Push requests answered', registers })
    this.applied = new client.Counter({ name: 'tidepool_applied_total', help: 'Mutations applied', registers })
    this.rejected = new client.Counter({ name: 'tidepool_rejected_total', help: 'Mutations rejected', registers })
    this.pulls = new client.Counter({ name: 'tidepool_pulls_total', help: 'Pull requests answered', registers })
    this.errors = new client.Counter({ name: 'tidepool_errors_total', help: 'Requests that failed with a server error', registers })
    this.pushSeconds = new client.Histogram({ name: 'tidepool_push_seconds', help: 'Push latency, durable commit included', buckets: BUCKETS, registers })
    this.pullSeconds = new client.Histogram({ name: 'tidepool_pull_seconds', help: 'Pull latency', buckets: BUCKETS, registers })
    const reading = (key: keyof Readings) => this.current?.[key] ?? 0
    for (const [key, name, kind, help] of READ) {
      const value = () => reading(key)
      if (kind === 'gauge') {
        new client.Gauge({ name, help, registers, collect() { this.set(value()) } })
      } else {
        new client.Counter({ name, help, registers, collect() { this.reset(); this.inc(value()) } })
      }
    }
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** The text a scrape gets. */
  async text(): Promise<string> {
    this.current = await this.read()
    return this.registry.metrics()
  }
}
