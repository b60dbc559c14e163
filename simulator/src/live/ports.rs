//! A range of TCP ports, written `N` or `FIRST-LAST`.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn single(port: u16) -> Self {
        Self { first: port, last: port }
    }

    pub fn ports(self) -> impl Iterator<Item = u16> {
        self.first..=self.last
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last { write!(f, "{}", self.first) } else { write!(f, "{}-{}", self.first, self.last) }
    }
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let port = |text: &str| match text.trim().parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("{s:?} is not a port or a port range like 1-1024")),
            Ok(port) => Ok(port),
        };
        let range = match s.split_once('-') {
            Some((first, last)) => PortRange { first: port(first)?, last: port(last)? },
            None => PortRange::single(port(s)?),
        };
        if range.first > range.last {
            return Err(format!("{s:?}: the first port is above the last"));
        }
        Ok(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ports_and_ranges() {
        assert_eq!("443".parse(), Ok(PortRange::single(443)));
        assert_eq!("1-1024".parse::<PortRange>().unwrap().ports().count(), 1024);
        for bad in ["0", "10-5", "x", "1-70000", ""] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
        assert_eq!(PortRange { first: 5, last: 9 }.to_string(), "5-9");
    }
}
