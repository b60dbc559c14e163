//! HL7 acknowledgements, as the ward gateway sends them: `AA` accepted, `AE` error, `AR` rejected.

use wardwatch_clinical::hl7::{Message, Separators, Writer};

/// MSA-1 acknowledgement codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckCode {
    Accept,
    Error,
    Reject,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "AA",
            Self::Error => "AE",
            Self::Reject => "AR",
        }
    }
}

/// The ACK for `original`, from `sender`, with control id `control_id` and an optional text.
pub fn build(original: &Message, sender: &str, code: AckCode, text: &str, timestamp: &str, control_id: &str) -> String {
    let msh = original.segment("MSH");
    let field = |n| msh.map(|s| original.separators.unescape(s.field(n))).unwrap_or_default();
    let trigger = msh.map(|s| original.component(s.field(9), 2)).unwrap_or_default();
    let mut w = Writer::new(Separators::default());
    w.segment("MSH")
        .field(&[sender])
        .field(&[&field(6)])
        .field(&[&field(3)])
        .field(&[&field(4)])
        .field(&[timestamp])
        .field(&[])
        .field(&["ACK", &trigger, "ACK"])
        .field(&[control_id])
        .field(&["P"])
        .field(&["2.5"])
        .end();
    w.segment("MSA").field(&[code.as_str()]).field(&[&original.control_id()]).field(&[text]).end();
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_echoes_the_control_id_and_swaps_the_parties() {
        let original =
            Message::parse(b"MSH|^~\\&|monitor-7|st-mary|WARDWATCH|st-mary|20261122000000||ORU^R01|MSG42|P|2.5\r")
                .unwrap();
        let text = build(&original, "WARDWATCH", AckCode::Accept, "", "20261122000001", "ACK1");
        let ack = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(ack.message_type(), "ACK^R01");
        let msh = ack.segment("MSH").unwrap();
        assert_eq!((msh.field(3), msh.field(5)), ("WARDWATCH", "monitor-7"));
        let msa = ack.segment("MSA").unwrap();
        assert_eq!((msa.field(1), msa.field(2)), ("AA", "MSG42"));
    }
}
