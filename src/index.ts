// Public API: named exports only. Everything else is internal.
export { createNode, type NodeOptions } from './api/create-node.js';
export { HorusNode, type JoinOptions, type NodeLimits, type RejoinBackoff } from './api/node.js';
export type { DirectoryLimits } from './api/directory.js';
export type { TransportLimits } from './transport/tcp-transport.js';
export { Group, type SendOptions, type GroupEvent, type GroupEventMap, type SendLimits, type ExcludedEvent, type MergedEvent } from './api/group.js';
export { Delivery } from './api/delivery.js';
export type { Order } from './api/app-header.js';
export type { View } from './core/view.js';
export type { NodeId } from './core/node-id.js';
export { HorusError, ProtocolError, ConfigError, ClosedError, type HorusErrorCode } from './core/errors.js';
export type { Logger } from './core/logger.js';
export { MemoryHistory, type HistoryEvent, type HistoryRecorder } from './core/history.js';
export type { StackSpec, LayerSpec } from './stack/stack.js';
