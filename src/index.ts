// Public API: named exports only. Everything else is internal.
export { createNode, type NodeOptions } from './api/create-node.js';
export { HorusNode, type JoinOptions, type NodeLimits, type RejoinBackoff } from './api/node.js';
export type { PartitionPolicy } from './layers/partition-policy.js';
export { mergePolicies, type MergeHandler, type MergeInput, type MergeEvent } from './api/merge.js';
export type { DirectoryLimits, GroupInfo } from './api/directory.js';
export type { TransportLimits } from './transport/tcp-transport.js';
export {
  Group,
  type SendOptions,
  type GroupEvent,
  type GroupEventMap,
  type SendLimits,
  type ExcludedEvent,
  type MergedEvent,
  type StateHandlers,
  type SnapshotStateHandlers,
  type StreamingStateHandlers,
  type StateChunks,
  type BlockReason,
} from './api/group.js';
export type { QueryOptions, QueryResult, QueryReply, QueryHandler } from './api/query.js';
export type { CallOptions, CallHandler, DirectLimits } from './api/direct.js';
export { Delivery } from './api/delivery.js';
export type { Order } from './api/app-header.js';
export type { View } from './core/view.js';
export type { NodeId } from './core/node-id.js';
export type { PeerIdentity } from './core/env.js';
export { HorusError, ProtocolError, ConfigError, ClosedError, type HorusErrorCode } from './core/errors.js';
export type { Logger, LogFields } from './core/logger.js';
export { MemoryHistory, type HistoryEvent, type HistoryRecorder } from './core/history.js';
export type { StackSpec, LayerSpec } from './stack/stack.js';
export type { BootstrapOptions } from './api/contact-points.js';
export { StaticDiscovery, type Discovery } from './discovery/discovery.js';
export { DnsDiscovery, type DnsDiscoveryOptions } from './discovery/dns-discovery.js';
export { FileDiscovery } from './discovery/file-discovery.js';
export { KubernetesDiscovery, type KubernetesDiscoveryOptions } from './discovery/kubernetes-discovery.js';
// Light-weight groups: many groups over one heavy-weight group (docs/lightweight-groups.md).
export { LightweightGroups, type LightweightOptions, type LwgJoinOptions, type LwgJoinManyOptions, type LwgDropCounts } from './lwg/service.js';
export { LightweightGroup, type LightweightGroupEventMap, type LwgStatus } from './lwg/lightweight-group.js';
export type { LwgDropReason } from './lwg/directory.js';
// Tools built on the group API (docs/tools.md).
export { OrderedOps, type OrderedMachine } from './tools/ordered-ops.js';
export { ReplicatedMap, type MapChange, type ReplicatedMapEventMap, type WriteOptions, type ReadOptions } from './tools/replicated-map.js';
export { LockService, isNewerToken, type FencingToken, type Grant, type AcquireOptions } from './tools/locks.js';
export { CounterService } from './tools/counters.js';
export { GroupClient, type ClientOptions, type ClientRequest, type RequestHandler, type ClientServeLimits } from './api/client.js';
export { ReplicatedService, type ServiceMachine, type ReplicatedServiceOptions } from './tools/replicated-service.js';
export { PrimaryBackup, type PrimaryBackupMachine, type PrimaryBackupOptions } from './tools/primary-backup.js';
// The resource and recovery manager (docs/services.md).
export { JobsService, type JobsServiceOptions, type JobsServiceLocalOptions, type JobsRequest } from './services/jobs/jobs-service.js';
export type { JobHandler, JobContext, RunnerEvent } from './services/jobs/job-runner.js';
export type { JobSubmission, JobSpec, JobRun, JobNeeds, NodeResources, RestartPolicy } from './services/jobs/job-spec.js';
export type { JobInfo } from './services/jobs/job-info.js';
export type { JobState, JobToken } from './services/jobs/job-table.js';
export type { GiveUpPolicy } from './services/jobs/give-up.js';
// The monitor (docs/services.md, ## Monitor).
export type { Aggregate, Comparison } from './services/monitor/rule.js';
// What a service tells the admin endpoint (GET /api/services).
export { registerService, type RegisteredService, type ServiceStatus } from './services/registry.js';
export {
  MonitorService,
  type MonitorServiceOptions,
  type MonitorServiceLocalOptions,
  type MonitorAction,
  type ActionContext,
  type MonitorRequest,
} from './services/monitor/monitor-service.js';
export type { Firing } from './services/monitor/monitor-table.js';
export { parseRule, type Rule } from './services/monitor/rule.js';
export { CoordinatorCohort, type CohortHandler, type CoordinatorCohortOptions } from './tools/coordinator-cohort.js';
// Services built on the tools (docs/services.md).
export { NewsService, NEWS_GROUP, type NewsServiceOptions, type SubscribeOptions, type NewsSubscription } from './services/news/news-service.js';
export { NewsClient, type NewsClientOptions, type ClientSubscribeOptions, type ClientSubscription } from './services/news/news-client.js';
export type { Posting } from './services/news/posting.js';
export type { Published } from './services/news/news-store.js';
export type { NewsLimits } from './services/news/news-options.js';
export { SubjectPattern, checkSubject } from './services/news/subject.js';
