//! The synthesised ward network: 10.20.0.0/16 with the gateway and a few infrastructure
//! servers at the bottom, devices from 10.20.0.10 up, and a router to everything outside.
//! Outside addresses come from the documentation ranges (RFC 5737), since nothing is sent.

use super::Host;

pub const GATEWAY: Host = Host { mac: [0x02, 0x57, 0x57, 0xff, 0xff, 0xfe], ip: [10, 20, 0, 1] };
pub const DNS_SERVER: Host = Host { mac: [0x02, 0x57, 0x57, 0xff, 0xff, 0xfd], ip: [10, 20, 0, 2] };
pub const NTP_SERVER: Host = Host { mac: [0x02, 0x57, 0x57, 0xff, 0xff, 0xfc], ip: [10, 20, 0, 3] };
/// The electronic health record's web front end that workstations use.
pub const EHR_SERVER: Host = Host { mac: [0x02, 0x57, 0x57, 0xff, 0xff, 0xfb], ip: [10, 20, 0, 4] };
/// The picture archive imaging modalities store to.
pub const PACS: Host = Host { mac: [0x02, 0x57, 0x57, 0xff, 0xff, 0xfa], ip: [10, 20, 0, 5] };
/// The ward's default route: frames to and from the outside carry its MAC.
pub const ROUTER: Host = Host { mac: [0x02, 0x57, 0x57, 0xff, 0xff, 0x01], ip: [10, 20, 255, 254] };

/// Default attack targets when none is configured.
pub const EXTERNAL_CONTACT: [u8; 4] = [203, 0, 113, 7];
pub const EXFILTRATION_DROP: [u8; 4] = [198, 51, 100, 23];
pub const BEACON_SERVER: [u8; 4] = [203, 0, 113, 66];

const INFRASTRUCTURE: [Host; 6] = [GATEWAY, DNS_SERVER, NTP_SERVER, EHR_SERVER, PACS, ROUTER];

pub fn is_ward(ip: [u8; 4]) -> bool {
    ip[0] == 10 && ip[1] == 20
}

/// The host an IP belongs to as the capture shows it: a known server, another ward machine
/// (with a MAC derived from its address), or the outside behind the router.
pub fn resolve(ip: [u8; 4]) -> Host {
    if let Some(known) = INFRASTRUCTURE.iter().find(|h| h.ip == ip) {
        return *known;
    }
    if is_ward(ip) { Host { mac: [0x02, 0x57, 0x57, 0xfe, ip[2], ip[3]], ip } } else { Host { mac: ROUTER.mac, ip } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_addresses_sit_behind_the_router() {
        assert_eq!(resolve(GATEWAY.ip), GATEWAY);
        assert_eq!(resolve(EXTERNAL_CONTACT).mac, ROUTER.mac);
        assert_eq!(resolve([10, 20, 3, 4]).mac, [0x02, 0x57, 0x57, 0xfe, 3, 4]);
    }
}
