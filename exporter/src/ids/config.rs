//! The intrusion rules' settings: thresholds with documented defaults, the sensitivity that
//! scales them, and the ward's expected network behaviour (allowed CIDRs and ports).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;

use crate::decode::packet::Protocol;

/// How eager the rules are: `high` halves the count, rate and volume thresholds, `low` doubles
/// them. Ratios (half-open share, jitter) are not scaled: they describe a shape, not an amount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sensitivity {
    Low,
    #[default]
    Medium,
    High,
}

impl Sensitivity {
    fn factor(self) -> f64 {
        match self {
            Self::Low => 2.0,
            Self::Medium => 1.0,
            Self::High => 0.5,
        }
    }
}

/// An IPv4 or IPv6 network, `10.1.0.0/24` or a bare address (a single host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl Cidr {
    /// The network holding only `addr`.
    pub fn host(addr: IpAddr) -> Self {
        Self(IpNet::from(addr))
    }

    /// Whether `addr` is in the network (never across IPv4 and IPv6).
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.contains(&addr)
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let Some((addr, _prefix)) = trimmed.split_once('/') else {
            return trimmed.parse().map(Self::host).map_err(|_| format!("{text:?} is not an IP address or CIDR"));
        };
        trimmed.parse().map(Self).map_err(|_| match addr.parse::<IpAddr>() {
            Ok(_) => format!("{text:?}: bad prefix length"),
            Err(_) => format!("{text:?} is not an IP address or CIDR"),
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A comma-separated list of CIDRs; empty items are skipped, so `""` is the empty list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CidrList(pub Vec<Cidr>);

impl CidrList {
    /// The ranges no public peer uses: RFC 1918 private, RFC 6598 shared (carrier-grade NAT),
    /// link-local, and IPv6 unique-local and link-local. What counts as internal when no network
    /// is declared.
    pub fn internal_ranges() -> Self {
        let ranges = [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "169.254.0.0/16",
            "fc00::/7",
            "fe80::/10",
        ];
        Self(ranges.iter().map(|range| range.parse().expect("a valid CIDR")).collect())
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(addr))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for CidrList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.0.iter().map(Cidr::to_string).collect();
        f.write_str(&items.join(","))
    }
}

/// Parses a comma-separated list, items trimmed, empty items skipped (`""` is the empty list).
fn comma_list<T>(text: &str, item: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    text.split(',').map(str::trim).filter(|part| !part.is_empty()).map(item).collect()
}

impl FromStr for CidrList {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        comma_list(text, str::parse).map(Self)
    }
}

/// One allowed transport: `TCP/443`, `UDP/123`, `TCP` (any port), `ICMP` (ICMP and ICMPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowedPort {
    Tcp(Option<u16>),
    Udp(Option<u16>),
    Icmp,
}

impl AllowedPort {
    pub fn allows(&self, protocol: Protocol, port: u16) -> bool {
        match (self, protocol) {
            (Self::Tcp(allowed), Protocol::Tcp) | (Self::Udp(allowed), Protocol::Udp) => {
                allowed.is_none_or(|p| p == port)
            }
            (Self::Icmp, Protocol::Icmp | Protocol::Icmpv6) => true,
            _ => false,
        }
    }
}

impl FromStr for AllowedPort {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (protocol, port) = text.split_once('/').map_or((text, None), |(proto, port)| (proto, Some(port)));
        let port = port.map(|p| p.trim().parse::<u16>().map_err(|_| format!("{text:?}: bad port"))).transpose()?;
        match (protocol.trim().to_ascii_uppercase().as_str(), port) {
            ("TCP", port) => Ok(Self::Tcp(port)),
            ("UDP", port) => Ok(Self::Udp(port)),
            ("ICMP" | "ICMPV6", None) => Ok(Self::Icmp),
            _ => Err(format!("{text:?} is not TCP/PORT, UDP/PORT, TCP, UDP or ICMP")),
        }
    }
}

/// A comma-separated list of [`AllowedPort`]s; `""` is the empty list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortList(pub Vec<AllowedPort>);

impl PortList {
    /// Every transport and port: what is allowed when nothing was declared.
    pub fn any() -> Self {
        Self(vec![AllowedPort::Tcp(None), AllowedPort::Udp(None), AllowedPort::Icmp])
    }

    pub fn allows(&self, protocol: Protocol, port: u16) -> bool {
        self.0.iter().any(|allowed| allowed.allows(protocol, port))
    }
}

impl FromStr for PortList {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        comma_list(text, str::parse).map(Self)
    }
}

/// A comma-separated list of port numbers; `""` is the empty list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortNumbers(pub Vec<u16>);

impl FromStr for PortNumbers {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        comma_list(text, |p| p.parse().map_err(|_| format!("{p:?} is not a port number"))).map(Self)
    }
}

/// A device's peer, as the traffic metrics and the topology panel group it (a bounded label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerClass {
    /// Loopback, multicast, broadcast, or the device's own addresses.
    Local,
    /// Inside the allowed CIDRs: the ward's network, its gateway, its allowed services.
    Allowed,
    /// Anywhere else: what `external_contact` is about.
    External,
}

impl PeerClass {
    pub const ALL: [PeerClass; 3] = [Self::Local, Self::Allowed, Self::External];

    /// Its place in [`Self::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Allowed => "allowed",
            Self::External => "external",
        }
    }
}

/// Everything the rules need to know, with the thresholds as configured (before sensitivity).
#[derive(Clone, Debug, PartialEq)]
pub struct IdsConfig {
    /// Length of the tumbling windows the counting rules use (packet time).
    pub window: Duration,
    pub sensitivity: Sensitivity,
    /// Distinct destination ports one source (an address of the device) opens flows to in a
    /// window (port scan).
    pub port_scan_ports: u32,
    /// Distinct destination hosts one source (an address of the device) opens flows to in a
    /// window (port scan).
    pub port_scan_hosts: u32,
    /// SYNs per second the device sends to one destination, averaged over the window (SYN flood).
    pub syn_flood_rate: f64,
    /// Share of those SYNs whose handshake did not complete (SYN flood); not scaled.
    pub syn_flood_half_open_ratio: f64,
    /// Egress bytes in a window versus the learnt per-window baseline (exfiltration).
    pub exfiltration_factor: f64,
    /// Egress bytes in a window below which exfiltration never fires, whatever the baseline.
    pub exfiltration_min_bytes: u64,
    /// Near-periodic connections to one destination before beaconing fires.
    pub beaconing_connections: u32,
    /// Largest coefficient of variation of the intervals that still counts as periodic; not scaled.
    pub beaconing_max_jitter: f64,
    /// Destination ports whose periodic connections are expected (NTP and DNS polls).
    pub beaconing_ignored_ports: PortList,
    /// Destinations the device may contact besides its own addresses and loopback.
    pub allowed_cidrs: CidrList,
    /// Transports and ports the device may use.
    pub allowed_ports: PortList,
    /// HL7/MLLP ports (TCP): always allowed, as the device's own purpose.
    pub hl7_ports: Vec<u16>,
    /// The device's own addresses. When empty, the side that opens a flow is taken as the device
    /// (a device twin is a client: it opens its connections, nobody opens connections to it).
    pub local_cidrs: CidrList,
    /// Most sources, destinations, addresses or beacon candidates each rule tracks; more are
    /// counted as untracked, not remembered.
    pub max_tracked: usize,
}

impl Default for IdsConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            sensitivity: Sensitivity::Medium,
            port_scan_ports: 15,
            port_scan_hosts: 10,
            syn_flood_rate: 100.0,
            syn_flood_half_open_ratio: 0.5,
            exfiltration_factor: 10.0,
            exfiltration_min_bytes: 256 * 1024,
            beaconing_connections: 6,
            beaconing_max_jitter: 0.1,
            beaconing_ignored_ports: PortList(vec![AllowedPort::Udp(Some(123)), AllowedPort::Udp(Some(53))]),
            allowed_cidrs: CidrList::default(),
            allowed_ports: PortList::default(),
            hl7_ports: vec![2575],
            local_cidrs: CidrList::default(),
            max_tracked: 1024,
        }
    }
}

/// The thresholds in force: the configured ones scaled by the sensitivity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub port_scan_ports: usize,
    pub port_scan_hosts: usize,
    /// SYNs to one destination within one window.
    pub syn_flood_syns: u64,
    pub syn_flood_half_open_ratio: f64,
    pub exfiltration_factor: f64,
    pub exfiltration_min_bytes: u64,
    pub beaconing_connections: usize,
    pub beaconing_max_jitter: f64,
}

/// Fewest connections beaconing looks at: two intervals are the least that can show a period.
const MIN_BEACONING_CONNECTIONS: usize = 3;

impl IdsConfig {
    pub fn thresholds(&self) -> Thresholds {
        let factor = self.sensitivity.factor();
        let count = |value: u32| ((f64::from(value) * factor).ceil() as usize).max(1);
        let window_seconds = self.window.as_secs_f64().max(f64::EPSILON);
        Thresholds {
            port_scan_ports: count(self.port_scan_ports),
            port_scan_hosts: count(self.port_scan_hosts),
            syn_flood_syns: ((self.syn_flood_rate * factor * window_seconds).ceil() as u64).max(1),
            syn_flood_half_open_ratio: self.syn_flood_half_open_ratio,
            exfiltration_factor: self.exfiltration_factor * factor,
            exfiltration_min_bytes: (self.exfiltration_min_bytes as f64 * factor) as u64,
            beaconing_connections: count(self.beaconing_connections).max(MIN_BEACONING_CONNECTIONS),
            beaconing_max_jitter: self.beaconing_max_jitter,
        }
    }

    /// Whether `addr` is the device, for a flow endpoint that did (`opened`) or did not open it.
    pub fn is_device(&self, addr: IpAddr, opened: bool) -> bool {
        if self.local_cidrs.is_empty() { opened } else { self.local_cidrs.contains(addr) }
    }

    /// Whether a packet of a flow is the device's outbound (`Some(true)`) or inbound traffic:
    /// by its own addresses when known; else, or for traffic within the host (loopback to
    /// loopback), by who opened the flow (the device opens its connections). `None` when
    /// neither tells: another host's packet, or a flow that began before the capture.
    pub fn device_direction(&self, src: IpAddr, dst: IpAddr, from_client: Option<bool>) -> Option<bool> {
        if self.local_cidrs.contains(src) {
            Some(true)
        } else if self.local_cidrs.contains(dst) {
            Some(false)
        } else if self.local_cidrs.is_empty() || (src.is_loopback() && dst.is_loopback()) {
            from_client
        } else {
            None
        }
    }

    /// What kind of peer `addr` is to the device: on the host or the link by design, in the
    /// ward's allowed networks, or outside them.
    pub fn peer_class(&self, addr: IpAddr) -> PeerClass {
        if self.is_exempt_destination(addr) {
            PeerClass::Local
        } else if self.allowed_cidrs.contains(addr) {
            PeerClass::Allowed
        } else {
            PeerClass::External
        }
    }

    /// Destinations that are never "outside": loopback, multicast, broadcast, unspecified, and
    /// the device's own addresses (traffic that stays on the host or the link by design).
    pub fn is_exempt_destination(&self, addr: IpAddr) -> bool {
        let special = match addr {
            IpAddr::V4(a) => a.is_loopback() || a.is_multicast() || a.is_broadcast() || a.is_unspecified(),
            IpAddr::V6(a) => a.is_loopback() || a.is_multicast() || a.is_unspecified(),
        };
        special || self.local_cidrs.contains(addr)
    }

    /// Whether the device may use `protocol` to `port` (HL7 ports are always allowed over TCP).
    pub fn port_allowed(&self, protocol: Protocol, port: u16) -> bool {
        (protocol == Protocol::Tcp && self.hl7_ports.contains(&port)) || self.allowed_ports.allows(protocol, port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_match() {
        let list: CidrList = "10.1.0.0/24, 192.0.2.7,2001:db8::/32".parse().unwrap();
        assert!(list.contains("10.1.0.200".parse().unwrap()));
        assert!(!list.contains("10.1.1.1".parse().unwrap()));
        assert!(list.contains("192.0.2.7".parse().unwrap()));
        assert!(!list.contains("192.0.2.8".parse().unwrap()));
        assert!(list.contains("2001:db8::1".parse().unwrap()));
        assert!(!list.contains("2001:db9::1".parse().unwrap()));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains("8.8.8.8".parse().unwrap()));
        assert_eq!("".parse::<CidrList>().unwrap(), CidrList::default());
        assert_eq!("10.0.0.0/33".parse::<Cidr>().unwrap_err(), r#""10.0.0.0/33": bad prefix length"#);
        assert_eq!("2001:db8::/129".parse::<Cidr>().unwrap_err(), r#""2001:db8::/129": bad prefix length"#);
        assert_eq!("ten".parse::<CidrList>().unwrap_err(), r#""ten" is not an IP address or CIDR"#);
        assert_eq!("ten/8".parse::<Cidr>().unwrap_err(), r#""ten/8" is not an IP address or CIDR"#);
        assert!("10.0.0.0/".parse::<Cidr>().is_err());
        // Host bits are kept as written, and matching uses the network.
        let written: Cidr = " 10.1.0.7/24 ".parse().unwrap();
        assert_eq!(written.to_string(), "10.1.0.7/24");
        assert!(written.contains("10.1.0.99".parse().unwrap()));
        assert_eq!(Cidr::host("2001:db8::5".parse().unwrap()).to_string(), "2001:db8::5/128");
        assert!(!"::/0".parse::<Cidr>().unwrap().contains("10.0.0.1".parse().unwrap()), "families never match");
    }

    #[test]
    fn ports_parse_and_match() {
        let list: PortList = "UDP/123,TCP/443,ICMP,tcp/2575".parse().unwrap();
        assert!(list.allows(Protocol::Udp, 123));
        assert!(!list.allows(Protocol::Tcp, 123));
        assert!(list.allows(Protocol::Tcp, 2575));
        assert!(list.allows(Protocol::Icmpv6, 0));
        assert!(!list.allows(Protocol::OtherIp, 0));
        assert!("SCTP/1".parse::<PortList>().is_err());
        assert!("TCP/70000".parse::<PortList>().is_err());
        assert_eq!("2575, 2576".parse::<PortNumbers>().unwrap(), PortNumbers(vec![2575, 2576]));
        assert_eq!("".parse::<PortNumbers>().unwrap(), PortNumbers::default());
        assert!("hl7".parse::<PortNumbers>().is_err());
        let any_udp: PortList = "UDP".parse().unwrap();
        assert!(any_udp.allows(Protocol::Udp, 53));
    }

    #[test]
    fn sensitivity_scales_amounts_not_ratios() {
        let medium = IdsConfig::default().thresholds();
        assert_eq!((medium.port_scan_ports, medium.syn_flood_syns, medium.beaconing_connections), (15, 1000, 6));
        let high = IdsConfig { sensitivity: Sensitivity::High, ..IdsConfig::default() }.thresholds();
        assert_eq!((high.port_scan_ports, high.port_scan_hosts, high.syn_flood_syns), (8, 5, 500));
        assert_eq!((high.exfiltration_factor, high.beaconing_connections), (5.0, 3));
        let low = IdsConfig { sensitivity: Sensitivity::Low, ..IdsConfig::default() }.thresholds();
        assert_eq!((low.port_scan_ports, low.exfiltration_min_bytes, low.beaconing_connections), (30, 512 * 1024, 12));
        assert_eq!(low.syn_flood_half_open_ratio, medium.syn_flood_half_open_ratio);
    }

    #[test]
    fn peer_class_indexes_follow_the_list() {
        for (i, class) in PeerClass::ALL.into_iter().enumerate() {
            assert_eq!(class.index(), i, "{}", class.as_str());
        }
    }
}
