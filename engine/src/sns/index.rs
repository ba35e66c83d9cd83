//! A topic's index of its subscriptions by what their filter policies require, so that a publish
//! tries only the subscriptions it may match: those whose policy needs an attribute value the
//! message carries, and those whose policy needs no exact string (or who have none). Matching
//! cost then stays flat in the subscriptions that require other values. Derived state: never
//! serialized, rebuilt with the parsed policies after a snapshot is read.

use std::collections::{BTreeMap, BTreeSet};

use super::filter::FilterInput;
use super::subscription::Subscription;

#[derive(Debug, Clone, Default)]
pub struct FilterIndex {
    /// Attribute -> value -> the subscriptions whose policy needs one of its values there and
    /// lists this one.
    by_value: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// Subscriptions every publish tries.
    others: BTreeSet<String>,
}

impl FilterIndex {
    pub fn insert(&mut self, id: &str, subscription: &Subscription) {
        match subscription.filter().and_then(|filter| filter.required_strings()) {
            Some((attribute, values)) => {
                let by_value = self.by_value.entry(attribute.to_string()).or_default();
                for value in values {
                    by_value.entry(value.to_string()).or_default().insert(id.to_string());
                }
            }
            None => {
                self.others.insert(id.to_string());
            }
        }
    }

    /// Takes out subscription `id`, indexed as `subscription` (before any change to it).
    pub fn remove(&mut self, id: &str, subscription: &Subscription) {
        match subscription.filter().and_then(|filter| filter.required_strings()) {
            Some((attribute, values)) => {
                if let Some(by_value) = self.by_value.get_mut(attribute) {
                    for value in values {
                        if let Some(ids) = by_value.get_mut(value) {
                            ids.remove(id);
                            if ids.is_empty() {
                                by_value.remove(value);
                            }
                        }
                    }
                    if by_value.is_empty() {
                        self.by_value.remove(attribute);
                    }
                }
            }
            None => {
                self.others.remove(id);
            }
        }
    }

    /// The subscriptions `message` may match, in id order: every one it does match is among
    /// them.
    pub fn candidates<'s>(&'s self, message: &FilterInput<'_>) -> BTreeSet<&'s str> {
        let mut candidates: BTreeSet<&str> = self.others.iter().map(String::as_str).collect();
        if self.by_value.is_empty() {
            return candidates;
        }
        for (attribute, value) in message.string_values() {
            if let Some(ids) = self.by_value.get(attribute).and_then(|by_value| by_value.get(value)) {
                candidates.extend(ids.iter().map(String::as_str));
            }
        }
        candidates
    }
}
