/**
 * A Set that counts its changes: a reader can cache what it computed from the set and recompute
 * only when `version` moved (GMS's minority check ran over every view member at every tick, at every
 * member: O(n²) per tick in a large group, for an answer that changes only with a suspicion).
 */
export class VersionedSet<T> extends Set<T> {
  /** Bumped by every add, delete and clear that changed the set (0 after the constructor, whatever it was given). */
  version = 0;

  override add(value: T): this {
    if (!super.has(value)) this.version++;
    return super.add(value);
  }

  override delete(value: T): boolean {
    const had = super.delete(value);
    if (had) this.version++;
    return had;
  }

  override clear(): void {
    if (this.size > 0) this.version++;
    super.clear();
  }
}
