//! What a device makes of the gateway's answer.

use wardwatch_clinical::hl7::Message;

use crate::ack::AckCode;

/// The gateway's answer to one message, as the device sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// An ACK for this message with MSA-1 `AA`, `AE` or `AR` (the latter two are NAKs).
    Ack(AckCode),
    /// An ACK, but for another message (MSA-2 does not match).
    OtherMessage(String),
    /// Not an ACK we can read.
    Unreadable,
}

/// Reads `bytes` (one deframed message) as the ACK to the message `control_id`.
pub fn interpret(bytes: &[u8], control_id: &str) -> Reply {
    let Ok(message) = Message::parse(bytes) else { return Reply::Unreadable };
    let Some(msa) = message.segment("MSA") else { return Reply::Unreadable };
    let acknowledged = message.separators.unescape(msa.field(2));
    if acknowledged != control_id {
        return Reply::OtherMessage(acknowledged);
    }
    // Enhanced-mode codes (CA/CE/CR) mean the same at the commit level.
    match msa.field(1) {
        "AA" | "CA" => Reply::Ack(AckCode::Accept),
        "AE" | "CE" => Reply::Ack(AckCode::Error),
        "AR" | "CR" => Reply::Ack(AckCode::Reject),
        _ => Reply::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack;

    fn ack_for(control_id: &str, code: AckCode) -> String {
        let original = Message::parse(
            format!("MSH|^~\\&|dev|h|WARDWATCH|h|20261122000000||ORU^R01|{control_id}|P|2.5\r").as_bytes(),
        )
        .unwrap();
        ack::build(&original, "WARDWATCH", code, "", "20261122000001", "GW1")
    }

    #[test]
    fn reads_each_code_for_the_right_message() {
        for code in [AckCode::Accept, AckCode::Error, AckCode::Reject] {
            assert_eq!(interpret(ack_for("M7", code).as_bytes(), "M7"), Reply::Ack(code));
        }
        assert_eq!(interpret(ack_for("M6", AckCode::Accept).as_bytes(), "M7"), Reply::OtherMessage("M6".into()));
        assert_eq!(interpret(b"MSH|^~\\&|x\r", "M7"), Reply::Unreadable);
        assert_eq!(interpret(b"garbage", "M7"), Reply::Unreadable);
        assert_eq!(interpret(b"MSH|^~\\&|x\rMSA|ZZ|M7\r", "M7"), Reply::Unreadable);
    }
}
