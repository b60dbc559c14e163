//! An attack's one target as configured: an IP address, or a DNS name (a Service of the ward,
//! say) that is resolved once, when the attack starts, to the one address the attack then aims
//! at. A name lets a manifest aim at a neighbour whose pod address the cluster picks.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Result, bail};

/// How many times a name is looked up before the attack gives up, one second apart: the
/// cluster's DNS may still be starting with the pod.
const RESOLVE_ATTEMPTS: u32 = 10;
const RESOLVE_SPACING: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Address(IpAddr),
    Name(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(ip) => ip.fmt(f),
            Self::Name(name) => f.write_str(name),
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;

    /// An IP address, or a DNS name (RFC 1123 labels, at most 253 characters).
    fn from_str(text: &str) -> Result<Self, String> {
        if let Ok(ip) = text.parse() {
            return Ok(Self::Address(ip));
        }
        if is_dns_name(text) {
            Ok(Self::Name(text.to_ascii_lowercase()))
        } else {
            Err(format!("{text:?} is neither an IP address nor a DNS name"))
        }
    }
}

fn is_dns_name(text: &str) -> bool {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let name = text.strip_suffix('.').unwrap_or(text);
    // A last label of digits only would be an address typed wrong (10.0.0.300), not a name.
    (1..=253).contains(&name.len())
        && name.split('.').all(label_ok)
        && !name.rsplit('.').next().is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
}

/// Refuses addresses that would reach more than one host or none.
pub fn check_address(ip: IpAddr) -> Result<()> {
    if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::from([255, 255, 255, 255]) {
        bail!("{ip} cannot be an attack target");
    }
    Ok(())
}

impl Target {
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Address(ip) => check_address(*ip),
            Self::Name(_) => Ok(()),
        }
    }

    /// The one address the attack aims at: the address itself, or the name's first IPv4
    /// address (its first address if it has no IPv4 one), looked up a bounded number of times.
    pub async fn resolve(&self) -> Result<IpAddr> {
        let name = match self {
            Self::Address(ip) => return Ok(*ip),
            Self::Name(name) => name,
        };
        let mut last_error = String::new();
        for attempt in 1..=RESOLVE_ATTEMPTS {
            match tokio::net::lookup_host((name.as_str(), 0)).await {
                Ok(addresses) => {
                    let addresses: Vec<IpAddr> = addresses.map(|a| a.ip()).collect();
                    if let Some(ip) = addresses.iter().find(|ip| ip.is_ipv4()).or(addresses.first()) {
                        check_address(*ip)?;
                        return Ok(*ip);
                    }
                    last_error = "no address".to_owned();
                }
                Err(error) => last_error = error.to_string(),
            }
            if attempt < RESOLVE_ATTEMPTS {
                tokio::time::sleep(RESOLVE_SPACING).await;
            }
        }
        bail!("the attack target {name} did not resolve in {RESOLVE_ATTEMPTS} attempts: {last_error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_parse_and_typos_do_not() {
        assert_eq!("10.40.0.10".parse(), Ok(Target::Address("10.40.0.10".parse().unwrap())));
        assert_eq!("::1".parse(), Ok(Target::Address("::1".parse().unwrap())));
        assert_eq!("icu-east-gateway.st-mary.svc".parse(), Ok(Target::Name("icu-east-gateway.st-mary.svc".into())));
        assert_eq!("Gateway.".parse(), Ok(Target::Name("gateway.".into())));
        for bad in ["10.0.0", "10.0.0.300", "-gw", "gw-", "a..b", "gw_1", "", "x y", &"a".repeat(64)] {
            assert!(bad.parse::<Target>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn broad_addresses_are_refused() {
        for ip in ["0.0.0.0", "224.0.0.1", "255.255.255.255", "::"] {
            assert!(Target::Address(ip.parse().unwrap()).validate().is_err(), "{ip}");
        }
    }

    #[tokio::test]
    async fn a_name_resolves_once_to_one_address() {
        assert_eq!(Target::Name("localhost".into()).resolve().await.unwrap(), IpAddr::from([127, 0, 0, 1]));
        let ip = "10.1.2.3".parse().unwrap();
        assert_eq!(Target::Address(ip).resolve().await.unwrap(), ip);
    }
}
