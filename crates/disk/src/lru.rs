//! A tiny least-recently-used cache for small capacities (tens of entries):
//! linear scans beat hashing at this size and keep the code obviously bounded.

/// Holds at most `cap` entries; the least recently used one is evicted first.
pub struct Lru<K, V> {
    cap: usize,
    items: Vec<(K, V)>,
}

impl<K: PartialEq, V: Clone> Lru<K, V> {
    pub fn new(cap: usize) -> Self {
        Lru {
            cap: cap.max(1),
            items: Vec::new(),
        }
    }

    /// The value for `k`, marking it most recently used.
    pub fn get(&mut self, k: &K) -> Option<V> {
        let i = self.items.iter().position(|(key, _)| key == k)?;
        let item = self.items.remove(i);
        let v = item.1.clone();
        self.items.push(item);
        Some(v)
    }

    /// Insert or replace `k`.
    pub fn put(&mut self, k: K, v: V) {
        if let Some(i) = self.items.iter().position(|(key, _)| *key == k) {
            self.items.remove(i);
        } else if self.items.len() >= self.cap {
            self.items.remove(0);
        }
        self.items.push((k, v));
    }
}

#[cfg(test)]
mod tests {
    use super::Lru;

    #[test]
    fn evicts_least_recently_used() {
        let mut l = Lru::new(2);
        l.put(1, "a");
        l.put(2, "b");
        assert_eq!(l.get(&1), Some("a"));
        l.put(3, "c");
        assert_eq!(l.get(&2), None);
        assert_eq!(l.get(&1), Some("a"));
        assert_eq!(l.get(&3), Some("c"));
    }
}
