//! A small bounded cache keyed by a certificate's SHA-256. Each plugin (root context) has one, so a keep-alive
//! connection, and every connection of the same client, pays the X.509 parse and the header formatting once.
//!
//! Only what follows from the certificate bytes and the plugin's configuration is cached. What can change per
//! request is read every time: whether the host verified the certificate, and (with `check_validity`) the clock.

use std::rc::Rc;

/// Enough for the distinct client certificates one worker sees at once in most deployments; a miss only costs a
/// parse. Entries are a few KiB (the Cloudflare preset keeps the DER in base64).
pub const CAPACITY: usize = 64;

pub struct Cache<V> {
    /// Most recently used last.
    entries: Vec<([u8; 32], Rc<V>)>,
    capacity: usize,
}

impl<V> Cache<V> {
    pub fn new(capacity: usize) -> Self {
        Cache { entries: Vec::new(), capacity }
    }

    pub fn get(&mut self, key: &[u8; 32]) -> Option<Rc<V>> {
        let at = self.entries.iter().rposition(|(k, _)| k == key)?;
        let entry = self.entries.remove(at);
        let value = Rc::clone(&entry.1);
        self.entries.push(entry);
        Some(value)
    }

    pub fn insert(&mut self, key: [u8; 32], value: Rc<V>) {
        if self.capacity == 0 {
            return;
        }
        self.entries.retain(|(k, _)| *k != key);
        if self.entries.len() >= self.capacity {
            // The least recently used.
            self.entries.remove(0);
        }
        self.entries.push((key, value));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_least_recently_used_goes_first() {
        let mut c = Cache::new(2);
        c.insert([1; 32], Rc::new(1));
        c.insert([2; 32], Rc::new(2));
        assert_eq!(c.get(&[1; 32]).as_deref(), Some(&1));
        c.insert([3; 32], Rc::new(3));
        assert_eq!(c.len(), 2);
        assert!(c.get(&[2; 32]).is_none());
        assert_eq!(c.get(&[1; 32]).as_deref(), Some(&1));
        assert_eq!(c.get(&[3; 32]).as_deref(), Some(&3));
        let mut none = Cache::new(0);
        none.insert([1; 32], Rc::new(1));
        assert!(none.is_empty());
    }
}
