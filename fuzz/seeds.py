#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/seeds/<target>/ (not committed).

    python3 fuzz/seeds.py [--pcap FILE.pcap]

With --pcap (the simulator's `pcap` mode writes one: see scripts/fuzz.sh), its frames become
packet_decoder seeds, one frame or a run of frames each, and the MLLP frames in its TCP
payloads become hl7_parser seeds and reassembler stream content. Hand-made frames, messages and
segment sequences are added either way, for what a capture of healthy devices rarely holds:
IP fragments, Linux cooked and raw IP frames, tunnels, odd separators, wrapped sequence
numbers, data from before a stream's start. The input formats are described at the top of
each target in fuzz/fuzz_targets/.
"""

import argparse
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# -- packet_decoder ---------------------------------------------------------------------------

LINK_SELECTOR = {1: 0, 113: 1, 276: 2, 12: 3, 101: 3, 228: 3, 229: 3}


def read_pcap(path):
    """(linktype, [(ts_seconds, frame, wire_len)]) of a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise SystemExit(f"{path}: not a classic pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    frames, at = [], 24
    while at + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(endian + "IIII", data[at : at + 16])
        at += 16
        frames.append((sec + frac / (1e9 if nano else 1e6), data[at : at + incl], orig))
        at += incl
    return linktype, frames


def record(frame, dt=0, cut=None):
    """One frame of a packet_decoder input; `cut` keeps only that many bytes (snaplen)."""
    flags = 0
    if cut is not None and cut < len(frame):
        extra = len(frame) - cut
        frame = frame[:cut]
        flags = 1 | (min((extra - 1) // 16, 127) << 1)
    return struct.pack("<HBB", len(frame), flags, dt) + frame


def frame_class(linktype, frame):
    """A rough class of a frame, so the seeds cover each kind a few times."""
    if linktype != 1 or len(frame) < 14:
        return ("link", linktype, len(frame) > 40)
    ether_type = struct.unpack(">H", frame[12:14])[0]
    body = frame[14:]
    if ether_type == 0x8100 and len(frame) >= 18:
        ether_type, body = struct.unpack(">H", frame[16:18])[0], frame[18:]
    if ether_type == 0x0800 and len(body) >= 20:
        proto, flags = body[9], struct.unpack(">H", body[6:8])[0]
        ihl = (body[0] & 15) * 4
        tcp_flags = body[ihl + 13] if proto == 6 and len(body) > ihl + 13 else 0
        has_payload = proto == 6 and len(body) > ihl + ((body[ihl + 12] >> 4) * 4 if len(body) > ihl + 12 else 0)
        return ("ipv4", proto, flags & 0x3FFF != 0, tcp_flags & 0x17, has_payload)
    if ether_type == 0x86DD and len(body) >= 40:
        return ("ipv6", body[6])
    return ("ether", ether_type)


def ethernet(ether_type, payload):
    return bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]) + struct.pack(">H", ether_type) + payload


def ipv4(proto, payload, src=(10, 0, 0, 1), dst=(10, 0, 0, 2), ident=1, frag_offset=0, more=False):
    flags = (0x2000 if more else 0) | (frag_offset // 8)
    header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags, 64, proto, 0,
                         bytes(src), bytes(dst))
    return header + payload


def ipv6(next_header, payload, src=b"\xfd" + b"\0" * 14 + b"\x01", dst=b"\xfd" + b"\0" * 14 + b"\x02"):
    return struct.pack(">IHBB", 0x60000000, len(payload), next_header, 64) + src + dst + payload


def tcp(sport, dport, seq, ack, flags, payload=b""):
    return struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload


def udp(sport, dport, payload):
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def hand_made_frames():
    """(selector, [frames]) inputs for what the simulator's capture lacks."""
    hl7 = mllp(oru("P-1", "C1"))
    syn, ack_, psh, fin, rst = 0x02, 0x10, 0x08, 0x01, 0x04
    client, server = (40000, 2575)
    conversation = [
        ethernet(0x0800, ipv4(6, tcp(client, server, 1000, 0, syn))),
        ethernet(0x0800, ipv4(6, tcp(server, client, 5000, 1001, syn | ack_), (10, 0, 0, 2), (10, 0, 0, 1))),
        ethernet(0x0800, ipv4(6, tcp(client, server, 1001, 5001, ack_))),
        ethernet(0x0800, ipv4(6, tcp(client, server, 1001, 5001, ack_ | psh, hl7[:40]))),
        ethernet(0x0800, ipv4(6, tcp(client, server, 1001 + 40, 5001, ack_ | psh, hl7[40:]))),
        ethernet(0x0800, ipv4(6, tcp(client, server, 1001, 5001, ack_ | psh, hl7[:40]))),  # retransmitted
        ethernet(0x0800, ipv4(6, tcp(server, client, 5001, 1001 + len(hl7), ack_ | psh, mllp(ack("A1", "C1"))),
                              (10, 0, 0, 2), (10, 0, 0, 1))),
        ethernet(0x0800, ipv4(6, tcp(client, server, 1001 + len(hl7), 0, fin | ack_))),
        ethernet(0x0800, ipv4(6, tcp(server, client, 9, 0, rst), (10, 0, 0, 2), (10, 0, 0, 1))),
    ]
    datagram = udp(5000, 6000, b"x" * 40)
    fragments = [
        ethernet(0x0800, ipv4(17, datagram[:24], ident=77, more=True)),
        ethernet(0x0800, ipv4(17, datagram[24:], ident=77, frag_offset=24)),
    ]
    frag6 = [
        ethernet(0x86DD, ipv6(44, struct.pack(">BBHI", 17, 0, 0x0001, 99) + datagram[:24])),
        ethernet(0x86DD, ipv6(44, struct.pack(">BBHI", 17, 0, 24, 99) + datagram[24:])),
    ]
    inner = ipv4(6, tcp(client, server, 1, 0, psh | ack_, b"\x0bMSH|"))
    tunnel = ethernet(0x0800, ipv4(4, inner, (192, 0, 2, 1), (192, 0, 2, 2)))
    tunnel6 = ethernet(0x86DD, ipv6(41, ipv6(17, udp(1, 2, b"hi"))))
    vlan = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]) + b"\x81\x00\x00\x05\x08\x00" + ipv4(1, b"\x08\x00\0\0\0\0\0\0")
    arp = ethernet(0x0806, struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + bytes([2, 0, 0, 0, 0, 1, 10, 0, 0, 1])
                   + bytes(6) + bytes([10, 0, 0, 2]))
    arp_spoof = ethernet(0x0806, struct.pack(">HHBBH", 1, 0x0800, 6, 4, 2) + bytes([2, 0, 0, 0, 0, 9, 10, 0, 0, 1])
                         + bytes(6) + bytes([10, 0, 0, 2]))
    icmp6 = ethernet(0x86DD, ipv6(58, b"\x80\x00\0\0\0\0\0\0"))
    sll = struct.pack(">HHH8sH", 0, 1, 6, bytes(8), 0x0800) + inner
    sll_loopback = struct.pack(">HHH8sH", 0, 772, 0, bytes(8), 0x86DD) + ipv6(17, udp(53, 53, b"q"))
    sll2 = struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, bytes(8)) + inner
    netlink = struct.pack(">HHIHBB8s", 0x0800, 0, 2, 824, 0, 0, bytes(8)) + b"\0" * 16
    return [
        (0, conversation),
        (0, fragments),
        (0, frag6),
        (0, [fragments[1], fragments[0], fragments[1]]),
        (0, [tunnel, tunnel6, vlan, arp, arp_spoof, icmp6]),
        (1, [sll]),
        (1, [sll_loopback]),
        (2, [sll2, netlink]),
        (3, [inner, ipv6(17, udp(1, 2, b"x"))]),
        (4, [conversation[0]]),
    ]


def packet_decoder_seeds(pcap):
    seeds = []
    for selector, frames in hand_made_frames():
        seeds.append(bytes([selector]) + b"".join(record(f, dt=1) for f in frames))
    # Snapshot-length cuts of a data segment.
    data_segment = hand_made_frames()[0][1][3]
    for cut in (14, 34, 54, 60):
        seeds.append(bytes([0]) + record(data_segment, cut=cut))
    if pcap:
        linktype, frames = pcap
        selector = LINK_SELECTOR.get(linktype, 4)
        per_class = {}
        for _, frame, wire_len in frames:
            key = frame_class(linktype, frame)
            if per_class.get(key, 0) < 3:
                per_class[key] = per_class.get(key, 0) + 1
                seeds.append(bytes([selector]) + record(frame))
        # Runs of consecutive frames, with their time steps, for flows and the intrusion rules.
        for start in range(0, min(len(frames), 4000), 250):
            run = frames[start : start + 24]
            out, last = bytearray([selector]), run[0][0]
            for ts, frame, _ in run:
                out += record(frame[:1500], dt=max(0, min(254, int((ts - last) * 10))))
                last = ts
            seeds.append(bytes(out))
    return seeds


# -- HL7 ------------------------------------------------------------------------------------

def oru(patient, control_id, seps="|^~\\&"):
    f, c = seps[0], seps[1]
    lines = [
        f"MSH{f}{seps[1:]}{f}monitor-7{f}st-mary{f}WARDWATCH{f}st-mary{f}20261122030405{f}{f}ORU{c}R01{c}ORU_R01"
        f"{f}{control_id}{f}P{f}2.5",
        f"PID{f}1{f}{f}{patient}{c}{c}{c}st-mary{c}MR",
        f"OBR{f}1{f}{f}{control_id}{f}VITALS{c}Vital signs{c}L",
        f"OBX{f}1{f}NM{f}59408-5{c}Oxygen saturation{c}LN{f}{f}97{f}%{c}%{c}UCUM{f}{f}{f}{f}F",
        f"OBX{f}2{f}NM{f}8867-4{c}Heart rate{c}LN{f}{f}72.5{f}/min{f}{f}{f}{f}F",
        f"OBX{f}3{f}NM{f}8310-5{c}Body temperature{c}LN{f}{f}37.1{f}Cel{f}{f}{f}{f}F",
        f"OBX{f}4{f}NM{f}9279-1{c}Respiratory rate{c}LN{f}{f}fast{f}/min{f}{f}{f}{f}F",
        f"OBX{f}5{f}NM{f}8480-6{c}Systolic{c}LN{f}{f}1e309{f}mm[Hg]{f}{f}{f}{f}F",
    ]
    return ("\r".join(lines) + "\r").encode()


def ack(control_id, acked, code="AA"):
    return f"MSH|^~\\&|WARDWATCH|st-mary|monitor-7|st-mary|20261122030406||ACK^R01^ACK|{control_id}|P|2.5\rMSA|{code}|{acked}\r".encode()


def mllp(message):
    return b"\x0b" + message + b"\x1c\x0d"


def messages_in(frames):
    """The MLLP frames whole inside single captured frames."""
    found = []
    for _, frame, _ in frames:
        start = frame.find(b"\x0bMSH")
        end = frame.find(b"\x1c\x0d", start)
        if start >= 0 and end > start:
            found.append(frame[start + 1 : end])
    return found


def hl7_seeds(captured):
    seeds = [
        oru("P-1001", "MSG1"),
        oru("P-1001", "MSG2", "#^~\\&"),
        oru("P 7", "MSG3", "| ~\\&"),  # a space as the component separator
        oru("P-9", "MSG4", "|^~ &"),  # a space as the escape character
        oru("", "MSG5"),
        ack("ACK1", "MSG1"),
        ack("ACK2", "MSG1", "AE"),
        b"MSH|^~\\&|A|B\nPID|1||X\r\nOBX|1|NM|8867-4^HR^LN||80|/min\n",
        b"\r\nMSH|^~\\&|x\rpid|1\r",
        b"MSH|^~\r",
        b"MSH|^^\\&|x\r",
        b"MSH\xc3\xa9\xe2\x82\xac~\\&\xc3\xa9x\xe2\x82\xacy\xc3\xa9z\r",  # multi-byte separators
        # Separators then values split at U+0001, for the round trip.
        b"|^~\\&a|b^c~d\\e&f\x01two\r\nlines\x01\\H\\ \\F\\",
        b"| ~\\&line\rbreak\x01a b\x01x\ny",
        b"|^~ &line\rbreak\x01 \\E\\ ",
        b"#$%!*\\!x*y%z$\x01\r",
        # An IHE PCD-01 report with MDC codes and units, and a lab's LOINC in other units.
        b"MSH|^~\\&|MON^0123^EUI-64|H|||20261122||ORU^R01^ORU_R01|P1|P|2.6|||NE|AL\rPID|||9^^^H^PI~P-1^^^H^MR\r"
        b"PV1||I|ICU^^3\rOBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X\r"
        b"OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|0.97|262656^MDC_DIM_DIMLESS^MDC|||||R\r"
        b"OBX|3|SN|151562^MDC_RESP_RATE^MDC|1.1.1.2|=^16|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R\r"
        b"OBX|4|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.1.3|16|265987^MDC_DIM_KILO_PASCAL^MDC|||||W\r",
        b"MSH|^~\\&|LAB|H|||20261122||ORU^R01|L1|P|2.5\rPID|||\rPV1|1|I|ICU^^4\r"
        b"OBX|1|NM|15074-8^Glucose^LN||6.1|mmol/L|||||F\rOBX|2|SN|14743-9^Glucose^LN||<^2.2|mmol/L|||||F\r"
        b"OBX|3|NM|8331-1^Oral temperature^LN||100.4|[degF]|||||F\rOBX|4|SN|3150-0^FiO2^LN||^21^:^100|1|||||C\r",
        # Observations: the first byte picks a table code; value type, value, status, unit (#n: the
        # code's n-th unit) and code, split at U+0001.
        b"\x00NM\x0172\x01F\x01#1",
        b"\x09SN\x01^0.95\x01R\x01#1",
        b"\x1dNM\x0199.5\x01R\x01#3",
        b"\x12SN\x01>^90\x01F\x01#0",
        b"\x30SN\x01^1^/^0\x01C\x01#2",
        b"\xffNM\x0197\x01F\x01%\x01150456\x01MDC",
        b"\xffNM\x0197\x01X\x01%\x0159408-5\x01LN",
    ]
    seeds += captured[:40]
    return seeds


# -- reassembler ----------------------------------------------------------------------------

def segments_input(config, isn, content, segments):
    """A reassembler input: segments as (syn, mode, length, delta)."""
    out = bytearray(struct.pack("<BIH", config, isn, len(content)) + content)
    for syn, mode, length, delta in segments:
        out += struct.pack("<BHi", (mode << 1) | int(syn), length, delta)
    return bytes(out)


def reassembler_seeds(captured):
    stream = b"".join(mllp(m) for m in captured[:6]) or mllp(oru("P-1", "C1")) + mllp(ack("A1", "C1"))
    stream = stream[:4000]
    n = len(stream)
    chunks = [(False, 0, 100, 0)] * (n // 100 + 1)
    seeds = [
        # SYN, then the stream in order.
        segments_input(0x25, 1000, stream, [(True, 0, 0, -1)] + chunks),
        # Sequence numbers that wrap inside the stream.
        segments_input(0x25, 0xFFFFFF00, stream, [(True, 0, 0, -1)] + chunks),
        # Out of order: the second half first, then the first.
        segments_input(0x24, 7, stream, [(False, 1, n // 2, n // 2), (False, 1, n - n // 2, -n // 2 - (n - n // 2)),
                                         (False, 0, n // 2, -n)]),
        # Retransmissions and overlaps.
        segments_input(0x25, 42, stream, [(False, 0, 300, 0), (False, 1, 300, -300), (False, 1, 200, -100),
                                          (False, 0, 300, 0), (False, 0, 300, -50)]),
        # A capture that starts mid-stream, then data from before its first byte.
        segments_input(0x25, 5000, stream, [(False, 1, 200, 500), (False, 2, 100, -300), (False, 2, 50, -1000),
                                            (False, 0, 200, 0)]),
        # Data before the SYN (its own sequence number, and before).
        segments_input(0x23, 77, stream, [(True, 0, 0, 100), (False, 2, 10, -5), (False, 2, 10, -200),
                                          (False, 2, 50, -1), (False, 0, 100, 0)]),
        # Holes that overflow a small buffer, so gaps are skipped.
        segments_input(0x02, 9, stream, [(True, 0, 0, 0), (False, 1, 50, 100), (False, 1, 50, 100),
                                          (False, 1, 50, -400), (False, 0, 100, 0)]),
        # Far ahead and far behind (near 2^31 either way).
        segments_input(0x05, 123, stream, [(False, 0, 100, 0), (False, 2, 100, 0x7FFF0000), (False, 2, 100, -0x7FFF0000),
                                           (False, 2, 100, -0x7FFFFFFF), (False, 0, 100, 0)]),
        # Raw sequence numbers.
        segments_input(0x04, 0, stream, [(True, 3, 0, 0x7FFFFFFF), (False, 3, 100, -0x80000000), (False, 3, 5, 0)]),
    ]
    return seeds


def write(target, seeds):
    directory = os.path.join(HERE, "seeds", target)
    os.makedirs(directory, exist_ok=True)
    for old in os.listdir(directory):
        os.remove(os.path.join(directory, old))
    for seed in seeds:
        name = hashlib.sha1(seed).hexdigest()
        with open(os.path.join(directory, name), "wb") as f:
            f.write(seed)
    print(f"{target}: {len(seeds)} seeds in {os.path.relpath(directory)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pcap", help="a capture from `wardwatch-simulator pcap`")
    args = parser.parse_args()
    pcap = read_pcap(args.pcap) if args.pcap else None
    captured = messages_in(pcap[1]) if pcap else []
    write("packet_decoder", packet_decoder_seeds(pcap))
    write("reassembler", reassembler_seeds(captured))
    write("hl7_parser", hl7_seeds(captured))


if __name__ == "__main__":
    main()
