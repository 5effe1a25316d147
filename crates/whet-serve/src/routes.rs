//! A/B routes: a route name that clients send as `model` stands for weighted variants (served
//! model names: the base model or adapters), e.g. `support-bot: {sft-v1: 90, dpo-v2: 10}`.
//!
//! A request picks its variant by a stable hash, not a random draw, so that a user keeps seeing
//! one variant: the 64-bit XXH3 of `route \0 key` (the request's `user`, or, without one, its
//! response id, which is random) is scaled into `[0, total weight)` (`hash × total >> 64`) and
//! looked up in the cumulative weights in the order the variants are listed (by name). The same
//! user on the same route therefore gets the same variant for as long as the weights stay the
//! same; over many users the shares follow the weights. XXH3 is specified and seedless here, so
//! the assignment is the same across processes, restarts and versions of whet.
//!
//! Weights change at run time (`PUT /v1/routes/{name}`): the new weights replace the old ones at
//! once; requests already planned keep their variant.

use std::collections::BTreeMap;
use std::sync::RwLock;

use xxhash_rust::xxh3::xxh3_64;

/// Every route's weights, shared by the request handlers.
#[derive(Debug, Default)]
pub struct Routes {
    routes: RwLock<BTreeMap<String, BTreeMap<String, u32>>>,
}

impl Routes {
    /// Routes as the config gives them (already validated).
    pub fn new(routes: BTreeMap<String, BTreeMap<String, u32>>) -> Self {
        Self {
            routes: RwLock::new(routes),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, BTreeMap<String, u32>>> {
        // A panic while holding the lock cannot leave the map half-written (writes are one
        // `insert`), so a poisoned lock is still consistent.
        self.routes.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn contains(&self, route: &str) -> bool {
        self.read().contains_key(route)
    }

    /// The route names.
    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// A copy of one route's weights.
    pub fn weights(&self, route: &str) -> Option<BTreeMap<String, u32>> {
        self.read().get(route).cloned()
    }

    /// A copy of every route's weights.
    pub fn all(&self) -> BTreeMap<String, BTreeMap<String, u32>> {
        self.read().clone()
    }

    /// The variant of `route` for `key` (a user or a response id); `None` when `route` is no
    /// route.
    pub fn pick(&self, route: &str, key: &str) -> Option<String> {
        let routes = self.read();
        let weights = routes.get(route)?;
        pick_variant(weights, route, key).map(str::to_string)
    }

    /// Replaces an existing route's weights (checked by the caller); `false` when there is no
    /// such route.
    pub fn set(&self, route: &str, weights: BTreeMap<String, u32>) -> bool {
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        match routes.get_mut(route) {
            Some(w) => {
                *w = weights;
                true
            }
            None => false,
        }
    }
}

/// The position of `key` on `route` in `[0, total)`: the stable hash scaled to the total weight.
pub fn bucket(route: &str, key: &str, total: u64) -> u64 {
    let mut bytes = Vec::with_capacity(route.len() + 1 + key.len());
    bytes.extend_from_slice(route.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(key.as_bytes());
    ((u128::from(xxh3_64(&bytes)) * u128::from(total)) >> 64) as u64
}

/// The variant whose cumulative-weight interval holds `key`'s bucket; `None` if every weight is
/// zero (validation refuses that).
pub fn pick_variant<'a>(
    weights: &'a BTreeMap<String, u32>,
    route: &str,
    key: &str,
) -> Option<&'a str> {
    let total: u64 = weights.values().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return None;
    }
    let mut at = bucket(route, key, total);
    for (variant, &w) in weights {
        if at < u64::from(w) {
            return Some(variant);
        }
        at -= u64::from(w);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn the_same_key_always_gets_the_same_variant_and_zero_weights_none() {
        let w = weights(&[("a", 50), ("b", 0), ("c", 50)]);
        for i in 0..200 {
            let user = format!("user-{i}");
            let first = pick_variant(&w, "r", &user).unwrap();
            assert_ne!(first, "b");
            assert_eq!(pick_variant(&w, "r", &user), Some(first));
        }
        assert_eq!(pick_variant(&weights(&[("a", 0)]), "r", "u"), None);
    }

    #[test]
    fn shares_follow_the_weights_over_many_keys() {
        let w = weights(&[("a", 90), ("b", 10)]);
        let n = 20_000;
        let a = (0..n)
            .filter(|i| pick_variant(&w, "route", &format!("u{i}")) == Some("a"))
            .count();
        let p = a as f64 / n as f64;
        // Binomial standard deviation of the share: sqrt(0.9 * 0.1 / n) ≈ 0.0021; allow 4σ.
        assert!((p - 0.9).abs() < 4.0 * (0.09f64 / n as f64).sqrt(), "{p}");
    }

    #[test]
    fn the_hash_is_the_documented_one() {
        // xxh3_64("r\0u") scaled to 100: fixed forever, so assignments survive restarts.
        let h = xxh3_64(b"r\0u");
        assert_eq!(bucket("r", "u", 100), ((u128::from(h) * 100) >> 64) as u64);
        assert_eq!(bucket("r", "u", 1), 0);
    }

    #[test]
    fn set_replaces_the_weights_of_an_existing_route_only() {
        let routes = Routes::new(BTreeMap::from([(
            "bot".to_string(),
            weights(&[("a", 1), ("b", 0)]),
        )]));
        assert_eq!(routes.pick("bot", "x").as_deref(), Some("a"));
        assert!(routes.set("bot", weights(&[("a", 0), ("b", 1)])));
        assert_eq!(routes.pick("bot", "x").as_deref(), Some("b"));
        assert!(!routes.set("other", weights(&[("a", 1)])));
        assert_eq!(routes.pick("other", "x"), None);
    }
}
