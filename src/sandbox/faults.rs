//! Injected faults: `5xx=0.05,429=0.02,latency=200ms@0.1,drop=0.01`. Each
//! request rolls a seeded RNG; `/_sandbox/*` is never faulted.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultSpec {
    pub error_5xx: f64,
    pub throttle_429: f64,
    pub latency: Option<(Duration, f64)>,
    pub drop: f64,
    /// `reject_latency=300ms`: an EKS mutation the sandbox rejected gets its
    /// reply this late, after the rejection was decided and logged (a slow
    /// way back), so a test can kill the client between EKS's rejection
    /// and the client learning of it.
    pub reject_latency: Option<Duration>,
}

impl FaultSpec {
    pub fn none() -> FaultSpec {
        FaultSpec::default()
    }

    pub fn is_empty(&self) -> bool {
        *self == FaultSpec::default()
    }
}

#[derive(Debug, PartialEq)]
pub struct FaultSpecError(pub String);

impl fmt::Display for FaultSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (expected e.g. \"5xx=0.05,429=0.02,latency=200ms@0.1,drop=0.01\")",
            self.0
        )
    }
}

impl std::error::Error for FaultSpecError {}

fn rate(key: &str, v: &str) -> Result<f64, FaultSpecError> {
    let r: f64 = v
        .parse()
        .map_err(|_| FaultSpecError(format!("`{key}` needs a rate between 0 and 1, got `{v}`")))?;
    if !(0.0..=1.0).contains(&r) {
        return Err(FaultSpecError(format!(
            "`{key}` rate {r} is not between 0 and 1"
        )));
    }
    Ok(r)
}

fn duration(d: &str) -> Result<Duration, FaultSpecError> {
    crate::literal::parse_duration(d)
        // A latency beyond a minute would only hang the clients.
        .and_then(|l| {
            if l <= Duration::from_secs(60) {
                Ok(l)
            } else {
                Err("more than 60s".to_string())
            }
        })
        .map_err(|why| {
            FaultSpecError(format!(
                "bad latency duration `{d}`: {why} (use e.g. 200ms or 2s, at most 60s)"
            ))
        })
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    fn from_str(s: &str) -> Result<FaultSpec, FaultSpecError> {
        let mut spec = FaultSpec::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| FaultSpecError(format!("`{part}` is not key=value")))?;
            match key {
                "5xx" => spec.error_5xx = rate(key, value)?,
                "429" => spec.throttle_429 = rate(key, value)?,
                "drop" => spec.drop = rate(key, value)?,
                "reject_latency" => {
                    spec.reject_latency = Some(duration(value)?);
                }
                "latency" => {
                    let (d, r) = value.split_once('@').ok_or_else(|| {
                        FaultSpecError(format!("latency needs DURATION@RATE, got `{value}`"))
                    })?;
                    spec.latency = Some((duration(d)?, rate(key, r)?));
                }
                other => {
                    return Err(FaultSpecError(format!(
                        "unknown fault `{other}`; known: 5xx, 429, latency, drop, reject_latency"
                    )));
                }
            }
        }
        Ok(spec)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    ServerError,
    Throttle,
    Drop,
}

pub struct Faults {
    spec: FaultSpec,
    rng: Mutex<ChaCha8Rng>,
}

impl Faults {
    pub fn new(spec: FaultSpec, seed: u64) -> Faults {
        Faults {
            spec,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_fa17)),
        }
    }

    /// How long to hold the reply to a rejected EKS mutation.
    pub fn reject_latency(&self) -> Option<Duration> {
        self.spec.reject_latency
    }

    /// Roll for one request: extra latency and at most one failure.
    pub fn roll(&self) -> (Option<Duration>, Option<Fault>) {
        if self.spec.is_empty() {
            return (None, None);
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let latency = self
            .spec
            .latency
            .and_then(|(d, r)| (rng.random::<f64>() < r).then_some(d));
        let x: f64 = rng.random();
        let s = &self.spec;
        let fault = if x < s.drop {
            Some(Fault::Drop)
        } else if x < s.drop + s.error_5xx {
            Some(Fault::ServerError)
        } else if x < s.drop + s.error_5xx + s.throttle_429 {
            Some(Fault::Throttle)
        } else {
            None
        };
        (latency, fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_spec_and_rejects_typos() {
        let s: FaultSpec = "5xx=0.05,429=0.02,latency=200ms@0.1,drop=0.01"
            .parse()
            .unwrap();
        assert_eq!(s.error_5xx, 0.05);
        assert_eq!(s.throttle_429, 0.02);
        assert_eq!(s.latency, Some((Duration::from_millis(200), 0.1)));
        assert_eq!(s.drop, 0.01);
        let r: FaultSpec = "reject_latency=300ms".parse().unwrap();
        assert_eq!(r.reject_latency, Some(Duration::from_millis(300)));
        assert!("5xx=2".parse::<FaultSpec>().is_err());
        assert!(
            "teapot=0.1"
                .parse::<FaultSpec>()
                .unwrap_err()
                .to_string()
                .contains("unknown fault")
        );
    }

    #[test]
    fn same_seed_same_faults() {
        let spec: FaultSpec = "5xx=0.3,429=0.3".parse().unwrap();
        let a = Faults::new(spec.clone(), 7);
        let b = Faults::new(spec, 7);
        let ra: Vec<_> = (0..50).map(|_| a.roll().1).collect();
        let rb: Vec<_> = (0..50).map(|_| b.roll().1).collect();
        assert_eq!(ra, rb);
        assert!(ra.iter().any(|f| f.is_some()) && ra.iter().any(|f| f.is_none()));
    }
}
