//! DICOM storage as an imaging modality does it (PS3.8 upper layer, PS3.7 C-STORE): associate
//! with the PACS, send each image as a C-STORE request (command set, then the data set with
//! its pixel data) in P-DATA-TF PDUs, get a C-STORE response per image, release. The images
//! are CT-sized (512 x 512, 16 bits) so that a study is a realistic bulk transfer.

use rand::Rng;
use rand::rngs::ChaCha8Rng;

use super::Frame;
use crate::traffic::tcp_session::TcpSession;

/// DICOM's registered port.
pub const PORT: u16 = 104;
/// A 100 Mbit/s ward link, mostly used.
pub const BYTES_PER_S: u64 = 10_000_000;
pub const ROWS: u16 = 512;
pub const COLUMNS: u16 = 512;
pub const PIXEL_BYTES: usize = ROWS as usize * COLUMNS as usize * 2;
/// The largest PDU either side accepts (negotiated in the user information item).
const MAX_PDU: usize = 16_384;
const PRESENTATION_CONTEXT: u8 = 1;
const APPLICATION_CONTEXT: &str = "1.2.840.10008.3.1.1.1";
const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";
/// Time the PACS takes to store an image before answering.
const STORE_US: u64 = 2_000;
/// The AE titles of the modality and the PACS.
pub const CALLING_AE: &str = "MODALITY";
pub const CALLED_AE: &str = "PACS";
/// PDU types (PS3.8 9.3).
pub const PDU_ASSOCIATE_RQ: u8 = 1;
pub const PDU_ASSOCIATE_AC: u8 = 2;
pub const PDU_P_DATA_TF: u8 = 4;
pub const PDU_RELEASE_RQ: u8 = 5;
pub const PDU_RELEASE_RP: u8 = 6;
pub const PDU_ABORT: u8 = 7;
/// The header every PDU starts with: type, reserved, 32-bit big-endian body length.
pub const PDU_HEADER_BYTES: usize = 6;

/// What a study transfer left on the wire and when it ended.
pub struct Transfer {
    pub frames: Vec<Frame>,
    pub end_us: u64,
}

/// Sends a study of `images` images over `session` (already open), starting at `t_us`, and
/// releases the association. The caller opens and closes the TCP connection.
pub fn store_study(
    session: &mut TcpSession,
    t_us: u64,
    images: u32,
    study: u32,
    patient_id: &str,
    rng: &mut ChaCha8Rng,
) -> Transfer {
    let mut frames = session.exchange(t_us, &associate_rq(CALLING_AE, CALLED_AE), &associate_ac(CALLING_AE, CALLED_AE));
    let mut now = t_us + 2_000;
    let mut pixels = vec![0u8; PIXEL_BYTES];
    for image in 1..=images {
        rng.fill_bytes(&mut pixels);
        let request = store_request(study, image, patient_id, &pixels);
        let (upload, acked_us) = session.upload(now, &request, BYTES_PER_S);
        frames.extend(upload);
        frames.extend(session.exchange(acked_us + STORE_US, &[], &store_response(study, image)));
        now = acked_us + STORE_US + 1_000;
    }
    frames.extend(session.exchange(now, &release_rq(), &release_rp()));
    Transfer { frames, end_us: now + 2_000 }
}

/// The SOP instance UID of a study's image.
fn instance_uid(study: u32, image: u32) -> String {
    format!("2.25.{study}.{image}")
}

/// One image's C-STORE request: the command set, then the data set in as many P-DATA-TF PDUs
/// as the negotiated PDU size needs.
pub fn store_request(study: u32, image: u32, patient_id: &str, pixels: &[u8]) -> Vec<u8> {
    let instance = instance_uid(study, image);
    let mut request = p_data(&[Pdv::last(true, command_store_rq(image as u16, &instance))]);
    let data = dataset(&instance, patient_id, pixels);
    let fragments = data.len().div_ceil(MAX_PDU - 12);
    for (i, fragment) in data.chunks(MAX_PDU - 12).enumerate() {
        let pdv = Pdv { command: false, last: i + 1 == fragments, fragment: fragment.to_vec() };
        request.extend(p_data(&[pdv]));
    }
    request
}

/// The PACS's C-STORE response (success) to `store_request(study, image, ..)`.
pub fn store_response(study: u32, image: u32) -> Vec<u8> {
    p_data(&[Pdv::last(true, command_store_rsp(image as u16, &instance_uid(study, image)))])
}

pub fn release_rq() -> Vec<u8> {
    pdu(PDU_RELEASE_RQ, &[0; 4])
}

pub fn release_rp() -> Vec<u8> {
    pdu(PDU_RELEASE_RP, &[0; 4])
}

/// An A-ABORT from the service user (source 0, reason 0), for an association given up.
pub fn abort() -> Vec<u8> {
    pdu(PDU_ABORT, &[0; 4])
}

fn pdu(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + body.len());
    out.extend([kind, 0]);
    out.extend((body.len() as u32).to_be_bytes());
    out.extend(body);
    out
}

fn item(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend([kind, 0]);
    out.extend((body.len() as u16).to_be_bytes());
    out.extend(body);
    out
}

/// An AE title: 16 bytes, space padded.
fn ae_title(name: &str) -> [u8; 16] {
    let mut out = [b' '; 16];
    out[..name.len().min(16)].copy_from_slice(&name.as_bytes()[..name.len().min(16)]);
    out
}

fn association(kind: u8, calling: &str, called: &str, presentation: Vec<u8>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(1u16.to_be_bytes()); // protocol version
    body.extend([0, 0]);
    body.extend(ae_title(called));
    body.extend(ae_title(calling));
    body.extend([0; 32]);
    body.extend(item(0x10, APPLICATION_CONTEXT.as_bytes()));
    body.extend(presentation);
    body.extend(item(0x50, &item(0x51, &(MAX_PDU as u32).to_be_bytes())));
    pdu(kind, &body)
}

pub fn associate_rq(calling: &str, called: &str) -> Vec<u8> {
    let mut context = vec![PRESENTATION_CONTEXT, 0, 0, 0];
    context.extend(item(0x30, CT_IMAGE_STORAGE.as_bytes()));
    context.extend(item(0x40, EXPLICIT_VR_LITTLE_ENDIAN.as_bytes()));
    association(PDU_ASSOCIATE_RQ, calling, called, item(0x20, &context))
}

pub fn associate_ac(calling: &str, called: &str) -> Vec<u8> {
    let mut context = vec![PRESENTATION_CONTEXT, 0, 0, 0]; // result 0: acceptance
    context.extend(item(0x40, EXPLICIT_VR_LITTLE_ENDIAN.as_bytes()));
    association(PDU_ASSOCIATE_AC, calling, called, item(0x21, &context))
}

/// A presentation data value: a fragment of a command set or a data set. Readers reassemble
/// the fragments up to the one marked last.
pub struct Pdv {
    pub command: bool,
    pub last: bool,
    pub fragment: Vec<u8>,
}

impl Pdv {
    fn last(command: bool, fragment: Vec<u8>) -> Self {
        Self { command, last: true, fragment }
    }
}

/// A P-DATA-TF PDU carrying `values`.
pub fn p_data(values: &[Pdv]) -> Vec<u8> {
    let mut body = Vec::new();
    for pdv in values {
        body.extend((pdv.fragment.len() as u32 + 2).to_be_bytes());
        body.push(PRESENTATION_CONTEXT);
        // Message control header: bit 0 command (else data), bit 1 last fragment.
        body.push(u8::from(pdv.command) | (u8::from(pdv.last) << 1));
        body.extend(&pdv.fragment);
    }
    pdu(PDU_P_DATA_TF, &body)
}

/// UIDs are padded with a NUL to an even length.
fn uid(value: &str) -> Vec<u8> {
    let mut out = value.as_bytes().to_vec();
    if out.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// A command set (implicit VR little endian) with its group length first.
fn command(elements: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (element, value) in elements {
        body.extend(0u16.to_le_bytes());
        body.extend(element.to_le_bytes());
        body.extend((value.len() as u32).to_le_bytes());
        body.extend(value);
    }
    let mut out = Vec::with_capacity(12 + body.len());
    out.extend([0, 0, 0, 0, 4, 0, 0, 0]);
    out.extend((body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

fn command_store_rq(message_id: u16, instance: &str) -> Vec<u8> {
    command(&[
        (0x0002, uid(CT_IMAGE_STORAGE)),
        (0x0100, 0x0001u16.to_le_bytes().to_vec()), // C-STORE-RQ
        (0x0110, message_id.to_le_bytes().to_vec()),
        (0x0700, 0u16.to_le_bytes().to_vec()),      // priority medium
        (0x0800, 0x0000u16.to_le_bytes().to_vec()), // a data set follows
        (0x1000, uid(instance)),
    ])
}

fn command_store_rsp(message_id: u16, instance: &str) -> Vec<u8> {
    command(&[
        (0x0002, uid(CT_IMAGE_STORAGE)),
        (0x0100, 0x8001u16.to_le_bytes().to_vec()), // C-STORE-RSP
        (0x0120, message_id.to_le_bytes().to_vec()),
        (0x0800, 0x0101u16.to_le_bytes().to_vec()), // no data set
        (0x0900, 0u16.to_le_bytes().to_vec()),      // success
        (0x1000, uid(instance)),
    ])
}

/// One element in explicit VR little endian.
fn element(out: &mut Vec<u8>, group: u16, element: u16, vr: &[u8; 2], value: &[u8]) {
    out.extend(group.to_le_bytes());
    out.extend(element.to_le_bytes());
    out.extend(vr);
    if matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT") {
        out.extend([0, 0]);
        out.extend((value.len() as u32).to_le_bytes());
    } else {
        out.extend((value.len() as u16).to_le_bytes());
    }
    out.extend(value);
}

/// The image's data set: identifiers, geometry, and the pixel data.
fn dataset(instance: &str, patient_id: &str, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pixels.len() + 256);
    let mut patient = patient_id.as_bytes().to_vec();
    if patient.len() % 2 == 1 {
        patient.push(b' ');
    }
    element(&mut out, 0x0008, 0x0016, b"UI", &uid(CT_IMAGE_STORAGE));
    element(&mut out, 0x0008, 0x0018, b"UI", &uid(instance));
    element(&mut out, 0x0008, 0x0060, b"CS", b"CT");
    element(&mut out, 0x0010, 0x0020, b"LO", &patient);
    element(&mut out, 0x0028, 0x0010, b"US", &ROWS.to_le_bytes());
    element(&mut out, 0x0028, 0x0011, b"US", &COLUMNS.to_le_bytes());
    element(&mut out, 0x0028, 0x0100, b"US", &16u16.to_le_bytes());
    element(&mut out, 0x7fe0, 0x0010, b"OW", pixels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdus_carry_their_length_and_items_nest() {
        let rq = associate_rq("MODALITY", "PACS");
        assert_eq!(rq[0], 1);
        assert_eq!(u32::from_be_bytes(rq[2..6].try_into().unwrap()) as usize, rq.len() - 6);
        assert_eq!(&rq[10..14], b"PACS");
        assert_eq!(&rq[26..34], b"MODALITY");
        assert!(rq.windows(CT_IMAGE_STORAGE.len()).any(|w| w == CT_IMAGE_STORAGE.as_bytes()));
        let data = p_data(&[Pdv::last(true, vec![1, 2]), Pdv { command: false, last: false, fragment: vec![3] }]);
        assert_eq!(data, [4, 0, 0, 0, 0, 15, 0, 0, 0, 4, 1, 3, 1, 2, 0, 0, 0, 3, 1, 0, 3]);
    }

    #[test]
    fn a_command_set_starts_with_its_group_length() {
        let set = command_store_rq(1, "2.25.1.1");
        assert_eq!(u32::from_le_bytes(set[8..12].try_into().unwrap()) as usize, set.len() - 12);
        assert!(set.len().is_multiple_of(2));
    }
}
