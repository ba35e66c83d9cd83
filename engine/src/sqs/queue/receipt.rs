//! Receipt handles: which queue incarnation, which message, which receive of it.

use crate::error::{SqsError, SqsResult};

use super::Seq;

const PREFIX: &str = "SHL1";
const ENCODED_LENGTH: usize = PREFIX.len() + 16 + 16 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptHandle {
    pub incarnation: u64,
    pub seq: Seq,
    pub receive_count: u32,
}

impl ReceiptHandle {
    pub fn encode(&self) -> String {
        format!("{PREFIX}{:016x}{:016x}{:08x}", self.incarnation, self.seq, self.receive_count)
    }

    pub fn decode(handle: &str) -> SqsResult<ReceiptHandle> {
        let invalid = || SqsError::invalid_receipt_handle(handle);
        if handle.len() != ENCODED_LENGTH || !handle.is_ascii() {
            return Err(invalid());
        }
        let Some(digits) = handle.strip_prefix(PREFIX) else {
            return Err(invalid());
        };
        let incarnation = u64::from_str_radix(&digits[0..16], 16).map_err(|_| invalid())?;
        let seq = u64::from_str_radix(&digits[16..32], 16).map_err(|_| invalid())?;
        let receive_count = u32::from_str_radix(&digits[32..40], 16).map_err(|_| invalid())?;
        Ok(ReceiptHandle { incarnation, seq, receive_count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_receipt_handle_round_trips_and_rejects_garbage() {
        let receipt = ReceiptHandle { incarnation: 7, seq: u64::MAX, receive_count: 3 };
        assert_eq!(ReceiptHandle::decode(&receipt.encode()), Ok(receipt));
        assert!(ReceiptHandle::decode("garbage").is_err());
        assert!(ReceiptHandle::decode(&format!("SHL1{}", "z".repeat(40))).is_err());
        assert!(ReceiptHandle::decode(&receipt.encode().replace("SHL1", "XXXX")).is_err());
    }
}
