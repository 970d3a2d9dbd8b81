//! One index of URIs and URI patterns, for the broker's subscriptions and the dealer's
//! registrations alike (digest §4.17 pattern-based subscription, §4.8 pattern-based
//! registration).
//!
//! An entry is a URI under a match policy, with an ID drawn from the router's generator. The
//! index answers the three questions the router asks: the entry of exactly this (policy, URI)
//! (one subscription or registration per pattern); every entry matching a topic (a
//! publication reaches all of them); and the single best entry for a procedure, with the
//! spec's precedence (exact, then the longest prefix, then the wildcard whose literal
//! components match best).

use std::collections::HashMap;
use std::ops::Index;

use crate::id::{IdGenerator, TypedId};
use crate::uri::{self, MatchPolicy, Uri};

/// What the index needs to know about an entry.
pub(crate) trait Pattern {
    /// The kind of ID the entry is known by.
    type Id: TypedId;
    /// The URI or pattern.
    fn uri(&self) -> &Uri;
    /// How it matches.
    fn policy(&self) -> MatchPolicy;
}

/// Entries by ID, indexed by URI and pattern.
#[derive(Debug)]
pub(crate) struct UriIndex<T: Pattern> {
    entries: HashMap<T::Id, T>,
    /// Exact entries by URI (looked up by `&str`, without allocating).
    exact: HashMap<Uri, T::Id>,
    /// Prefix and wildcard entries by (policy, pattern).
    by_pattern: HashMap<(MatchPolicy, Uri), T::Id>,
    /// Prefix and wildcard entries in creation order: the order a publication reaches them
    /// in, and the tie-break of the precedence rules.
    patterns: Vec<T::Id>,
}

impl<T: Pattern> Default for UriIndex<T> {
    fn default() -> Self {
        UriIndex {
            entries: HashMap::new(),
            exact: HashMap::new(),
            by_pattern: HashMap::new(),
            patterns: Vec::new(),
        }
    }
}

impl<T: Pattern> UriIndex<T> {
    /// The entry of exactly `uri` under `policy` (not the best match).
    pub fn find(&self, policy: MatchPolicy, uri: &Uri) -> Option<T::Id> {
        match policy {
            MatchPolicy::Exact => self.exact.get(uri.as_str()).copied(),
            _ => self.by_pattern.get(&(policy, uri.clone())).copied(),
        }
    }

    /// Adds an entry under a fresh ID (the caller checked with [`find`](Self::find) that
    /// its pattern has none yet).
    pub fn insert(&mut self, ids: &mut IdGenerator, entry: T) -> T::Id {
        let id = loop {
            let id = T::Id::from_id(ids.next_id());
            if !self.entries.contains_key(&id) {
                break id;
            }
        };
        match entry.policy() {
            MatchPolicy::Exact => {
                self.exact.insert(entry.uri().clone(), id);
            }
            policy => {
                self.by_pattern.insert((policy, entry.uri().clone()), id);
                self.patterns.push(id);
            }
        }
        self.entries.insert(id, entry);
        id
    }

    /// Removes an entry.
    pub fn remove(&mut self, id: T::Id) -> Option<T> {
        let entry = self.entries.remove(&id)?;
        match entry.policy() {
            MatchPolicy::Exact => {
                self.exact.remove(entry.uri().as_str());
            }
            policy => {
                self.by_pattern.remove(&(policy, entry.uri().clone()));
                self.patterns.retain(|p| *p != id);
            }
        }
        Some(entry)
    }

    /// Every entry matching `uri`: the exact one first, then patterns in creation order.
    pub fn matching(&self, uri: &Uri) -> Vec<T::Id> {
        // Allocates only when something matches.
        let mut out = Vec::new();
        if let Some(id) = self.exact.get(uri.as_str()) {
            out.push(*id);
        }
        for id in &self.patterns {
            if let Some(e) = self.entries.get(id) {
                if e.policy().matches(e.uri().as_str(), uri.as_str()) {
                    out.push(*id);
                }
            }
        }
        out
    }

    /// The one entry `uri` goes to: the exact one; else the prefix entry with the longest
    /// prefix; else the wildcard entry whose literal components match best (longest first
    /// run of literal components, then the next run...). Among equals, the newest.
    pub fn best_match(&self, uri: &Uri) -> Option<T::Id> {
        if let Some(id) = self.exact.get(uri.as_str()) {
            return Some(*id);
        }
        let of_policy = |policy: MatchPolicy| {
            self.patterns
                .iter()
                .filter_map(|id| self.entries.get(id).map(|e| (*id, e)))
                .filter(move |(_, e)| e.policy() == policy)
                .filter(|(_, e)| e.policy().matches(e.uri().as_str(), uri.as_str()))
        };
        if let Some((id, _)) = of_policy(MatchPolicy::Prefix)
            .max_by_key(|(_, e)| uri::prefix_precedence(e.uri().as_str()))
        {
            return Some(id);
        }
        of_policy(MatchPolicy::Wildcard)
            .max_by(|(_, a), (_, b)| uri::wildcard_precedence(a.uri().as_str(), b.uri().as_str()))
            .map(|(id, _)| id)
    }
}

impl<T: Pattern> UriIndex<T> {
    /// The entry with this ID.
    pub fn get(&self, id: &T::Id) -> Option<&T> {
        self.entries.get(id)
    }

    /// The entry with this ID, to change (not its URI or policy).
    pub fn get_mut(&mut self, id: &T::Id) -> Option<&mut T> {
        self.entries.get_mut(id)
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&T::Id, &T)> {
        self.entries.iter()
    }

    /// Whether the index holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.exact.is_empty()
            && self.by_pattern.is_empty()
            && self.patterns.is_empty()
    }
}

impl<T: Pattern> Index<&T::Id> for UriIndex<T> {
    type Output = T;

    fn index(&self, id: &T::Id) -> &T {
        &self.entries[id]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SubscriptionId;

    struct Entry(Uri, MatchPolicy);

    impl Pattern for Entry {
        type Id = SubscriptionId;
        fn uri(&self) -> &Uri {
            &self.0
        }
        fn policy(&self) -> MatchPolicy {
            self.1
        }
    }

    fn add(
        index: &mut UriIndex<Entry>,
        ids: &mut IdGenerator,
        uri: &str,
        p: MatchPolicy,
    ) -> SubscriptionId {
        index.insert(ids, Entry(Uri::new_unchecked(uri), p))
    }

    #[test]
    fn matching_lists_exact_first_then_patterns_in_creation_order() {
        let (mut index, mut ids) = (UriIndex::default(), IdGenerator::from_seed(1));
        let wild = add(&mut index, &mut ids, "com..topic", MatchPolicy::Wildcard);
        let prefix = add(&mut index, &mut ids, "com.app", MatchPolicy::Prefix);
        let exact = add(&mut index, &mut ids, "com.app.topic", MatchPolicy::Exact);
        let topic = Uri::new_unchecked("com.app.topic");
        assert_eq!(index.matching(&topic), vec![exact, wild, prefix]);
        assert_eq!(index.best_match(&topic), Some(exact));
        index.remove(exact);
        assert_eq!(index.best_match(&topic), Some(prefix));
        index.remove(prefix);
        assert_eq!(index.best_match(&topic), Some(wild));
        assert_eq!(
            index.find(MatchPolicy::Wildcard, &Uri::new_unchecked("com..topic")),
            Some(wild)
        );
        index.remove(wild);
        assert!(index.is_empty());
    }
}
