export {
  S,
  type AnySchema,
  type ArrSchema,
  type BoolSchema,
  type Infer,
  type JsonSchema,
  type MapSchema,
  type NumSchema,
  type ObjSchema,
  type Schema,
  type SchemaKind,
  type Shape,
  type StrSchema,
} from './core/schema.js'
export { setValidationMode, validationMode, type ValidationMode } from './core/validate.js'
export type { Json, JsonObject } from './core/json.js'
export type { Mutation, Op, Path, Precondition } from './core/mutation.js'
export {
  AuthenticationError,
  ClosedError,
  ConditionFailedError,
  CorruptFileError,
  DeletedTwiceError,
  DocumentKeptAsideError,
  HttpError,
  InvalidFieldError,
  InvalidOptionsError,
  InvalidParameterError,
  MissingIndexError,
  ModelAlreadyExistsError,
  ModelTrackedTwiceError,
  OfflineError,
  PermissionDeniedError,
  RejectedError,
  SchemaChangedError,
  StorageError,
  TidepoolError,
  TransactionFailedError,
  ValidationError,
  WriteAttemptedInReadOnlyTxError,
  WrongUserError,
  type ConditionReason,
} from './core/errors.js'
export { Model, model, Key, Data, type ModelConfig, type TypedModelClass } from './orm/model.js'
export { Field } from './orm/field.js'
export type { Migration, Migrations } from './orm/migrations.js'
export { Member, Realm } from './orm/realms.js'
export { PUBLIC_REALM, ROLES, type Role } from './core/realms.js'
export { UniqueKeyList } from './orm/unique-key-list.js'
export { Transaction, type GetOptions, type KeyLike } from './orm/transaction.js'
export { openDatabase, type SyncOf } from './database/open.js'
export { Database } from './database/database.js'
export type { DatabaseOptions, RunOptions } from './database/options.js'
export type { DataInput, ExpectedInput, Instance, KeyInput, ModelClass, UpdateInput } from './orm/types.js'
export { memoryStorage } from './replica/memory.js'
export type { Durability, KeyRange, Storage, StorageReader, WriteBatch } from './replica/storage.js'
export { Query, type CursorArgs, type DocData, type FieldPath, type Operand, type Snapshot, type ValueAt } from './orm/query.js'
export type { Cursor, Filter, FilterOp, Order, QuerySpec } from './core/query.js'
export type { Plan } from './replica/query.js'
export type { LiveOptions, LiveSubscription } from './replica/live.js'
export type { ReplicaReport, ReportOptions } from './replica/inspect.js'
export type { DatabaseReport } from './database/report.js'
export type { Head } from './replica/head.js'
export type { AsideDoc, CommitResult, Progress } from './replica/replica.js'
export type { DurationStats, OperationKind, StatsSnapshot } from './replica/stats.js'
export type { Sync, SyncOptions, SyncPhase, SyncStatus, Transport } from './sync/index.js'
export type { Syncer } from './core/syncer.js'
export type { Rejection } from './core/changes.js'
