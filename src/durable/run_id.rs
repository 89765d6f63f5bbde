//! Run ids: `20261123T011336Z-4f2a9c1e`, UTC start second then 32 random bits.
//! They sort by start time as plain strings, so directory listings are
//! chronological, and the strict syntax keeps ids from the command line from
//! escaping `.runbook/runs/`.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a run id (expected e.g. `20261123T011336Z-4f2a9c1e`)")]
pub struct InvalidRunId(pub String);

impl RunId {
    /// A fresh id for a run starting at `now`.
    pub fn generate(now: Timestamp) -> RunId {
        Self::generate_with(now, &mut rand::rng())
    }

    pub fn generate_with(now: Timestamp, rng: &mut impl Rng) -> RunId {
        let suffix: u32 = rng.random();
        RunId(format!("{}-{suffix:08x}", now.strftime("%Y%m%dT%H%M%SZ")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn is_valid(s: &str) -> bool {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        b.len() == 25
            && digits(0..8)
            && b[8] == b'T'
            && digits(9..15)
            && b[15] == b'Z'
            && b[16] == b'-'
            && b[17..]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    }
}

impl FromStr for RunId {
    type Err = InvalidRunId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if RunId::is_valid(s) {
            Ok(RunId(s.to_string()))
        } else {
            Err(InvalidRunId(s.to_string()))
        }
    }
}

impl TryFrom<String> for RunId {
    type Error = InvalidRunId;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RunId> for String {
    fn from(id: RunId) -> String {
        id.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ids_sort_by_start_time_and_round_trip() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let early: Timestamp = "2026-11-23T01:13:36Z".parse().unwrap();
        let late: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let a = RunId::generate_with(early, &mut rng);
        let b = RunId::generate_with(late, &mut rng);
        assert!(a.as_str().starts_with("20261123T011336Z-"), "{a}");
        assert!(a < b);
        assert_eq!(a.as_str().parse::<RunId>().unwrap(), a);
    }

    #[test]
    fn rejects_paths_and_garbage() {
        for bad in [
            "../../etc",
            "20261123T011336Z-4F2A9C1E",
            "20261123T011336Z-4f2a9c1",
            "",
        ] {
            assert!(bad.parse::<RunId>().is_err(), "{bad}");
        }
    }
}
