//! Sharding a large fleet of policies over N processes without
//! coordination: `--shard I/N` makes a controller own only the policies
//! whose name hashes to shard I.
//!
//! The hash is FNV-1a (64 bits) over the name's UTF-8 bytes, modulo N. It
//! is part of the interface: every version must put a policy in the same
//! shard, so it is written out here (eight lines, pinned by published test
//! vectors) rather than taken from a hasher whose output may change, such
//! as std's `DefaultHasher`, or that adds bytes of its own, as `Hash for
//! str` does.

use std::fmt;
use std::str::FromStr;

/// One shard of `count`: policies whose name hashes to `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

/// Why a `--shard` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("expected I/N, such as 0/4 (shard I of N, I from 0 to N-1); got {0:?}")]
    Syntax(String),
    #[error("the shard count N must be at least 1; got {0}")]
    NoShards(u64),
    #[error("shard {index} does not exist with {count} shard(s): I goes from 0 to {}", count - 1)]
    OutOfRange { index: u64, count: u64 },
}

impl Shard {
    pub fn new(index: u64, count: u64) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError::NoShards(count));
        }
        if index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Shard { index, count })
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether the policy `name` belongs to this shard.
    pub fn owns(&self, name: &str) -> bool {
        shard_of(name, self.count) == self.index
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(text.to_owned());
        let (index, count) = text.trim().split_once('/').ok_or_else(syntax)?;
        let index = index.trim().parse().map_err(|_| syntax())?;
        let count = count.trim().parse().map_err(|_| syntax())?;
        Shard::new(index, count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard (of `count`) that owns the policy `name`.
pub fn shard_of(name: &str, count: u64) -> u64 {
    fnv1a64(name.as_bytes()) % count.max(1)
}

/// FNV-1a, 64 bits.
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_hash_is_fnv1a_64() {
        // The published FNV-1a test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn policies_stay_in_their_shard_across_versions() {
        // Pinned: a change here moves policies between processes.
        let names = [
            "orders",
            "billing",
            "emails",
            "thumbnails",
            "reports",
            "checkout",
            "search",
            "uploads",
        ];
        let shards: Vec<u64> = names.iter().map(|name| shard_of(name, 5)).collect();
        assert_eq!(shards, [2, 4, 0, 3, 3, 3, 3, 4]);
        assert_eq!(fnv1a64(b"orders"), 0x0012_5d92_50be_8b4c);
    }

    #[test]
    fn shards_parse_and_refuse_what_does_not_exist() {
        assert_eq!("1/4".parse::<Shard>(), Shard::new(1, 4));
        assert_eq!(" 0 / 1 ".parse::<Shard>().unwrap().to_string(), "0/1");
        assert_eq!(
            "4/4".parse::<Shard>(),
            Err(ShardError::OutOfRange { index: 4, count: 4 })
        );
        assert_eq!("0/0".parse::<Shard>(), Err(ShardError::NoShards(0)));
        for bad in ["", "1", "a/4", "1/b", "-1/4", "1/4/2"] {
            assert!(
                matches!(bad.parse::<Shard>(), Err(ShardError::Syntax(_))),
                "{bad:?}"
            );
        }
        let message = "4/4".parse::<Shard>().unwrap_err().to_string();
        assert!(message.contains("from 0 to 3"), "{message}");
    }

    proptest! {
        #[test]
        fn every_name_is_in_exactly_one_shard(name in "\\PC{0,40}", count in 1u64..64) {
            let owners: Vec<u64> = (0..count)
                .filter(|&index| Shard::new(index, count).unwrap().owns(&name))
                .collect();
            prop_assert_eq!(owners, vec![shard_of(&name, count)]);
        }
    }

    #[test]
    fn names_spread_over_the_shards() {
        let mut sizes = [0usize; 4];
        for i in 0..4000 {
            sizes[shard_of(&format!("policy-{i}"), 4) as usize] += 1;
        }
        assert!(sizes.iter().all(|&n| (800..1200).contains(&n)), "{sizes:?}");
    }
}
