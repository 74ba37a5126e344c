/**
 * A least-recently-used cache bounded by a byte budget, for the parsed trees and blob contents of
 * one change set. Order is a doubly linked list beside the Map: a Map alone (delete and re-set to
 * move a key to the back, iterate from the front to evict) makes every eviction skip the deleted
 * slots its table still holds, which on a busy cache costs more than the lookups.
 */

interface Node<K, V> {
  readonly key: K;
  value: V;
  bytes: number;
  prev: Node<K, V> | undefined;
  next: Node<K, V> | undefined;
}

/** Keys to values, the least recently used dropped first once their bytes exceed the budget. */
export class ByteLru<K, V> {
  private readonly nodes = new Map<K, Node<K, V>>();
  /** Least recently used. */
  private oldest: Node<K, V> | undefined;
  /** Most recently used. */
  private newest: Node<K, V> | undefined;
  private total = 0;

  constructor(private readonly maxBytes: number) {}

  /** Bytes held. */
  get bytes(): number {
    return this.total;
  }

  /** The value of `key` (now the most recently used), or undefined. */
  get(key: K): V | undefined {
    const node = this.nodes.get(key);
    if (!node) return undefined;
    if (node !== this.newest) {
      this.unlink(node);
      this.append(node);
    }
    return node.value;
  }

  /** Keeps `value` as `bytes` bytes, then drops the least recently used others while over budget. */
  set(key: K, value: V, bytes: number): void {
    const had = this.nodes.get(key);
    if (had) {
      this.unlink(had);
      this.total -= had.bytes;
      this.nodes.delete(key);
    }
    const node: Node<K, V> = { key, value, bytes, prev: undefined, next: undefined };
    this.nodes.set(key, node);
    this.append(node);
    this.total += bytes;
    while (this.total > this.maxBytes && this.oldest !== node) {
      const drop = this.oldest!;
      this.unlink(drop);
      this.nodes.delete(drop.key);
      this.total -= drop.bytes;
    }
  }

  private append(node: Node<K, V>): void {
    node.prev = this.newest;
    node.next = undefined;
    if (this.newest) this.newest.next = node;
    else this.oldest = node;
    this.newest = node;
  }

  private unlink(node: Node<K, V>): void {
    if (node.prev) node.prev.next = node.next;
    else this.oldest = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.newest = node.prev;
    node.prev = undefined;
    node.next = undefined;
  }
}
