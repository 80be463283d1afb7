//! CPU time as people write it: a number of cores (`0.5`, `2`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

/// A share of CPU time, in cores: `0.5` is half of one core's time, `2` two
/// cores' worth. Held in thousandths of a core, from 0.01 to 1024 cores.
/// Written and serialized as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cores(u32);

impl Cores {
    /// The smallest share: 0.01 core (the kernel's quota is at least 1 ms
    /// of every 100 ms).
    pub const MIN: Self = Self(10);
    /// The largest share: 1024 cores.
    pub const MAX: Self = Self(1024 * 1000);

    /// `n` thousandths of a core.
    pub const fn millis(n: u32) -> Self {
        Self(n)
    }

    /// The share in thousandths of a core.
    pub const fn as_millis(self) -> u32 {
        self.0
    }

    /// The share as a number of cores.
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 1000.0
    }

    /// The share of `cores`, refused unless it is a number from 0.01 to 1024.
    pub fn from_f64(cores: f64) -> Result<Self, String> {
        let millis = (cores * 1000.0).round();
        if !cores.is_finite() || millis < f64::from(Self::MIN.0) || millis > f64::from(Self::MAX.0)
        {
            return Err(format!(
                "{cores} is not a number of CPU cores from 0.01 to 1024"
            ));
        }
        // In range, so the conversion is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(Self(millis as u32))
    }
}

impl fmt::Display for Cores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.0 == 1000 { "core" } else { "cores" };
        write!(f, "{} {unit}", self.as_f64())
    }
}

impl Serialize for Cores {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Cores {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_f64(f64::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbers_of_cores_in_range() {
        let read = |text: &str| serde_json::from_str::<Cores>(text);
        assert_eq!(read("0.5").unwrap(), Cores::millis(500));
        assert_eq!(read("2").unwrap(), Cores::millis(2000));
        assert_eq!(read("0.01").unwrap(), Cores::MIN);
        assert_eq!(read("1").unwrap().to_string(), "1 core");
        assert_eq!(read("0.25").unwrap().to_string(), "0.25 cores");
        for bad in ["0", "-1", "0.001", "2000", "\"half\""] {
            assert!(read(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&Cores::millis(1500)).unwrap(), "1.5");
    }
}
