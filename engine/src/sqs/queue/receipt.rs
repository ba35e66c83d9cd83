//! Receipt handles: which queue (a tag of its name), which incarnation of it, which message,
//! which receive of it.
//!
//! Incarnations are counted per data group, so two queues of different groups can share one;
//! the tag of the queue's name tells their handles apart. Handles issued before the tag
//! (`SHL1`) carry none and are still taken.

use crate::error::{SqsError, SqsResult};

use super::Seq;

const PREFIX_UNTAGGED: &str = "SHL1";
const PREFIX: &str = "SHL2";
const UNTAGGED_LENGTH: usize = PREFIX_UNTAGGED.len() + 16 + 16 + 8;
const ENCODED_LENGTH: usize = PREFIX.len() + 8 + 16 + 16 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptHandle {
    /// `queue_tag(name)` of the queue it was issued by; `None` in handles issued before tags.
    pub queue_tag: Option<u32>,
    pub incarnation: u64,
    pub seq: Seq,
    pub receive_count: u32,
}

/// A 32-bit tag of a queue name (FNV-1a), fixed forever: handles carry it.
pub fn queue_tag(name: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

impl ReceiptHandle {
    pub fn encode(&self) -> String {
        match self.queue_tag {
            Some(tag) => {
                format!("{PREFIX}{tag:08x}{:016x}{:016x}{:08x}", self.incarnation, self.seq, self.receive_count)
            }
            None => format!("{PREFIX_UNTAGGED}{:016x}{:016x}{:08x}", self.incarnation, self.seq, self.receive_count),
        }
    }

    pub fn decode(handle: &str) -> SqsResult<ReceiptHandle> {
        let invalid = || SqsError::invalid_receipt_handle(handle);
        if !handle.is_ascii() {
            return Err(invalid());
        }
        let (queue_tag, digits) = match (handle.strip_prefix(PREFIX), handle.strip_prefix(PREFIX_UNTAGGED)) {
            (Some(rest), _) if handle.len() == ENCODED_LENGTH => {
                (Some(u32::from_str_radix(&rest[0..8], 16).map_err(|_| invalid())?), &rest[8..])
            }
            (_, Some(rest)) if handle.len() == UNTAGGED_LENGTH => (None, rest),
            _ => return Err(invalid()),
        };
        let incarnation = u64::from_str_radix(&digits[0..16], 16).map_err(|_| invalid())?;
        let seq = u64::from_str_radix(&digits[16..32], 16).map_err(|_| invalid())?;
        let receive_count = u32::from_str_radix(&digits[32..40], 16).map_err(|_| invalid())?;
        Ok(ReceiptHandle { queue_tag, incarnation, seq, receive_count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_receipt_handle_round_trips_and_rejects_garbage() {
        let receipt =
            ReceiptHandle { queue_tag: Some(queue_tag("q")), incarnation: 7, seq: u64::MAX, receive_count: 3 };
        assert_eq!(ReceiptHandle::decode(&receipt.encode()), Ok(receipt));
        let untagged = ReceiptHandle { queue_tag: None, ..receipt };
        assert!(untagged.encode().starts_with("SHL1"), "the handles of earlier builds");
        assert_eq!(ReceiptHandle::decode(&untagged.encode()), Ok(untagged));
        assert!(ReceiptHandle::decode(&receipt.encode()[..40]).is_err());
        assert!(ReceiptHandle::decode("garbage").is_err());
        assert!(ReceiptHandle::decode(&format!("SHL1{}", "z".repeat(40))).is_err());
        assert!(ReceiptHandle::decode(&receipt.encode().replace("SHL2", "XXXX")).is_err());
        assert!(ReceiptHandle::decode(&untagged.encode().replace("SHL1", "SHL2")).is_err());
        // The tag is fixed forever: handles in clients' hands carry it.
        assert_eq!(queue_tag("orders"), 0x325e_96ec);
    }
}
