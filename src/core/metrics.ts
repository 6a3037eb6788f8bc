/**
 * The metric interfaces protocol code counts through. They live in the core so that layers and the
 * stack depend on nothing above them; src/obs holds the registry and the exporters.
 */
export interface Counter {
  inc(n?: number): void;
}
export interface Gauge {
  set(v: number): void;
}
export interface Metrics {
  counter(name: string, help: string): Counter;
  gauge(name: string, help: string): Gauge;
}
