//! One message as a queue holds it: its index entry (state, timers, receive counts) and no
//! contents, which are in the store under the message's key (see [`crate::bodies`]). What few
//! messages have (FIFO fields, a dead-letter source) is kept out of line, so a standard queue's
//! message costs about half of what it did with every field in place.
//!
//! The serialized form is the one every snapshot has had (`MessageWire`, field for field):
//! contents as body and attributes (an empty body when they are in the store), then the FIFO
//! fields and the dead-letter source in line. Bytes are pinned by `engine/tests/snapshot.rs`.

use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};

use super::MessageState;
use crate::bodies::{empty_body, Arriving, BodyKey, BodyRecord, MessageHeader};
use crate::message::{MessageAttributes, MessageId};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "MessageWire")]
pub struct Message {
    /// When the message entered this queue; retention counts from here. Equal to the sent time
    /// except after a move task, or a move to a FIFO dead-letter queue, which restart it.
    pub enqueued_ms: u64,
    /// When it was first received, `NEVER_RECEIVED` before that (an `Option` would cost 8 bytes
    /// more per message).
    first_receive_ms: u64,
    /// Also the receive generation carried by receipt handles.
    pub receive_count: u32,
    /// When the current receive happened; bounds how far its visibility may be extended.
    pub received_ms: u64,
    pub state: MessageState,
    /// Its contents, or where they are stored, while it is on its way: see [`Carried`]. `None`
    /// in a queue or the outbox (the store holds the contents under its key there).
    carried: Option<Box<Carried>>,
    /// FIFO fields and the dead-letter source, for the messages that have any.
    extra: Option<Box<MessageExtra>>,
}

const NEVER_RECEIVED: u64 = u64::MAX;

/// What a message carries while it is not settled in a queue or the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Carried {
    /// Its contents, with its header: arriving (a send, an import), or decoded from a snapshot
    /// of format 2.
    Contents(BodyRecord),
    /// Its header alone: a send's before its contents are attached, or a message decoded from a
    /// snapshot of format 3 or before (whose header the state machine then folds into the
    /// stored record).
    Header(MessageHeader),
    /// Where its contents are stored while it is between queues (taken out of one, not yet in
    /// another or in the outbox): the next place moves them there. With the header it kept in
    /// memory, if it kept one (see `Header`).
    StoredAt(BodyKey, Option<MessageHeader>),
}

impl Carried {
    fn into_header(self) -> Option<MessageHeader> {
        match self {
            Carried::Contents(contents) => contents.header,
            Carried::Header(header) | Carried::StoredAt(_, Some(header)) => Some(header),
            Carried::StoredAt(_, None) => None,
        }
    }
}

/// What only some messages have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageExtra {
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
    pub sequence_number: Option<u128>,
    pub dead_letter_source_arn: Option<String>,
}

impl MessageExtra {
    fn boxed(self) -> Option<Box<MessageExtra>> {
        (self != MessageExtra::default()).then(|| Box::new(self))
    }
}

impl Message {
    /// A message as a send or a test makes it: unreceived, visible, sent at `now_ms`, carrying
    /// its header until it is given contents.
    pub fn new(message_id: MessageId, md5_of_body: [u8; 16], sender_id: Arc<str>, now_ms: u64) -> Message {
        let header = MessageHeader { message_id, md5_of_body, sender_id, sent_ms: now_ms };
        Message {
            enqueued_ms: now_ms,
            first_receive_ms: NEVER_RECEIVED,
            receive_count: 0,
            received_ms: 0,
            state: MessageState::Visible,
            carried: Some(Box::new(Carried::Header(header))),
            extra: None,
        }
    }

    /// The same message carrying `contents` (which keep the header it has).
    pub fn with_contents(mut self, contents: BodyRecord) -> Message {
        self.restore_contents(contents);
        self
    }

    /// What never changes about it, while it carries that (never in a queue: the store has it).
    pub fn header(&self) -> Option<&MessageHeader> {
        match self.carried.as_deref()? {
            Carried::Contents(contents) => contents.header.as_ref(),
            Carried::Header(header) | Carried::StoredAt(_, Some(header)) => Some(header),
            Carried::StoredAt(_, None) => None,
        }
    }

    /// When it was first received, if it has been.
    pub fn first_receive_ms(&self) -> Option<u64> {
        (self.first_receive_ms != NEVER_RECEIVED).then_some(self.first_receive_ms)
    }

    /// Notes a receive at `now_ms`: the first one sets the first-receive time.
    pub fn note_receive(&mut self, now_ms: u64) {
        if self.first_receive_ms == NEVER_RECEIVED {
            self.first_receive_ms = now_ms;
        }
    }

    /// The contents it carries, if any (none in a queue: the store holds them).
    pub fn contents(&self) -> Option<&BodyRecord> {
        match self.carried.as_deref() {
            Some(Carried::Contents(contents)) => Some(contents),
            _ => None,
        }
    }

    /// Notes that its contents are stored under `key` until it settles somewhere else (a
    /// header it keeps in memory goes with it).
    pub fn set_stored_at(&mut self, key: BodyKey) {
        let header = self.take_header();
        self.carried = Some(Box::new(Carried::StoredAt(key, header)));
    }

    /// The same message with `extra`'s fields.
    pub fn with_extra(mut self, extra: MessageExtra) -> Message {
        self.extra = extra.boxed();
        self
    }

    pub fn group_id(&self) -> Option<&str> {
        self.extra.as_ref()?.group_id.as_deref()
    }

    pub fn deduplication_id(&self) -> Option<&str> {
        self.extra.as_ref()?.deduplication_id.as_deref()
    }

    pub fn sequence_number(&self) -> Option<u128> {
        self.extra.as_ref()?.sequence_number
    }

    pub fn dead_letter_source_arn(&self) -> Option<&str> {
        self.extra.as_ref()?.dead_letter_source_arn.as_deref()
    }

    /// Changes the fields kept out of line through `change`.
    fn change_extra(&mut self, change: impl FnOnce(&mut MessageExtra)) {
        let mut extra = self.extra.take().map(|extra| *extra).unwrap_or_default();
        change(&mut extra);
        self.extra = extra.boxed();
    }

    pub fn set_sequence_number(&mut self, number: Option<u128>) {
        self.change_extra(|extra| extra.sequence_number = number);
    }

    pub fn set_dead_letter_source_arn(&mut self, arn: Option<String>) {
        self.change_extra(|extra| extra.dead_letter_source_arn = arn);
    }

    /// Where its contents come from as it enters a queue or the outbox. Contents it carries
    /// are taken out: from here on the store holds them.
    pub fn arriving(&mut self) -> Arriving {
        match self.carried.take().map(|carried| *carried) {
            Some(Carried::StoredAt(from, header)) => {
                // The record moves as it is; a header kept in memory stays there.
                self.carried = header.map(|header| Box::new(Carried::Header(header)));
                Arriving::StoredAt(from)
            }
            Some(Carried::Contents(contents)) => Arriving::Carried(contents),
            Some(Carried::Header(header)) => Arriving::Carried(BodyRecord { header: Some(header), ..no_contents() }),
            None => Arriving::Carried(no_contents()),
        }
    }

    /// Does it carry its contents (see [`Message::contents`])?
    pub fn carries_contents(&self) -> bool {
        self.contents().is_some()
    }

    /// Takes its contents out (none if it carries none).
    pub fn take_contents(&mut self) -> BodyRecord {
        match self.carried.take().map(|carried| *carried) {
            Some(Carried::Contents(contents)) => contents,
            other => {
                self.carried = other.map(Box::new);
                no_contents()
            }
        }
    }

    /// Gives it back contents read from the store, keeping the header it carries if the
    /// record has none.
    pub fn restore_contents(&mut self, mut record: BodyRecord) {
        let Some(slot) = self.carried.as_deref_mut() else {
            self.carried = Some(Box::new(Carried::Contents(record)));
            return;
        };
        // The header moves over and the box is reused: a send makes every message this way.
        let previous = std::mem::replace(slot, Carried::Contents(no_contents()));
        if record.header.is_none() {
            record.header = previous.into_header();
        }
        *slot = Carried::Contents(record);
    }

    /// Takes out the header it carries alone (from a snapshot of format 3 or before), for the
    /// store to keep with its contents.
    pub fn take_header(&mut self) -> Option<MessageHeader> {
        match self.carried.take().map(|carried| *carried) {
            Some(Carried::Header(header)) => Some(header),
            other => {
                self.carried = other.map(Box::new);
                None
            }
        }
    }

    /// Gives it back its header read from the store (to write a snapshot of format 3 or
    /// before, which holds every header in line).
    pub fn restore_header(&mut self, header: MessageHeader) {
        if self.carried.is_none() {
            self.carried = Some(Box::new(Carried::Header(header)));
        }
    }

    /// Prepares a message for another queue (a dead-letter queue, or back out of one): it
    /// starts there unreceived, and a FIFO destination gives it a new sequence number.
    pub fn restart_receives(&mut self) {
        self.receive_count = 0;
        self.first_receive_ms = NEVER_RECEIVED;
        self.set_sequence_number(None);
    }
}

fn no_contents() -> BodyRecord {
    BodyRecord {
        body: empty_body(),
        attributes: MessageAttributes::new(),
        system_attributes: MessageAttributes::new(),
        header: None,
    }
}

/// The serialized form of a message: every field in line, as snapshots of formats 1 to 3 hold
/// it (contents only in format 2 and before).
#[derive(Serialize, Deserialize)]
#[serde(rename = "Message")]
struct MessageWire {
    message_id: MessageId,
    body: Arc<str>,
    md5_of_body: [u8; 16],
    attributes: MessageAttributes,
    system_attributes: MessageAttributes,
    sender_id: Arc<str>,
    sent_ms: u64,
    enqueued_ms: u64,
    first_receive_ms: Option<u64>,
    receive_count: u32,
    received_ms: u64,
    state: MessageState,
    group_id: Option<String>,
    deduplication_id: Option<String>,
    sequence_number: Option<u128>,
    dead_letter_source_arn: Option<String>,
}

/// [`MessageWire`] borrowed from a message, to serialize it without copies.
#[derive(Serialize)]
#[serde(rename = "Message")]
struct MessageWireRef<'a> {
    message_id: &'a MessageId,
    body: &'a str,
    md5_of_body: &'a [u8; 16],
    attributes: &'a MessageAttributes,
    system_attributes: &'a MessageAttributes,
    sender_id: &'a str,
    sent_ms: u64,
    enqueued_ms: u64,
    first_receive_ms: Option<u64>,
    receive_count: u32,
    received_ms: u64,
    state: &'a MessageState,
    group_id: Option<&'a String>,
    deduplication_id: Option<&'a String>,
    sequence_number: Option<u128>,
    dead_letter_source_arn: Option<&'a String>,
}

static NO_ATTRIBUTES: MessageAttributes = MessageAttributes::new();

/// The id written for a message whose header is in the store (snapshot format 4): real ids are
/// never empty.
const PLACEHOLDER_ID: &str = "";

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let contents = self.contents();
        let extra = self.extra.as_deref();
        let header = self.header();
        let placeholder_id = MessageId::Other(PLACEHOLDER_ID.into());
        MessageWireRef {
            message_id: header.map_or(&placeholder_id, |h| &h.message_id),
            body: contents.map_or("", |c| &c.body),
            md5_of_body: header.map_or(&[0; 16], |h| &h.md5_of_body),
            attributes: contents.map_or(&NO_ATTRIBUTES, |c| &c.attributes),
            system_attributes: contents.map_or(&NO_ATTRIBUTES, |c| &c.system_attributes),
            sender_id: header.map_or("", |h| &h.sender_id),
            sent_ms: header.map_or(0, |h| h.sent_ms),
            enqueued_ms: self.enqueued_ms,
            first_receive_ms: self.first_receive_ms(),
            receive_count: self.receive_count,
            received_ms: self.received_ms,
            state: &self.state,
            group_id: extra.and_then(|e| e.group_id.as_ref()),
            deduplication_id: extra.and_then(|e| e.deduplication_id.as_ref()),
            sequence_number: extra.and_then(|e| e.sequence_number),
            dead_letter_source_arn: extra.and_then(|e| e.dead_letter_source_arn.as_ref()),
        }
        .serialize(serializer)
    }
}

impl From<MessageWire> for Message {
    fn from(wire: MessageWire) -> Message {
        let placeholder = wire.message_id == MessageId::Other(PLACEHOLDER_ID.into());
        let header = MessageHeader {
            message_id: wire.message_id,
            md5_of_body: wire.md5_of_body,
            sender_id: wire.sender_id,
            sent_ms: wire.sent_ms,
        };
        let header = (!placeholder).then_some(header);
        // SQS refuses empty bodies: an empty one means the contents are in the store.
        let carried = if wire.body.is_empty() {
            header.map(|header| Box::new(Carried::Header(header)))
        } else {
            Some(Box::new(Carried::Contents(BodyRecord {
                body: wire.body,
                attributes: wire.attributes,
                system_attributes: wire.system_attributes,
                header,
            })))
        };
        let extra = MessageExtra {
            group_id: wire.group_id,
            deduplication_id: wire.deduplication_id,
            sequence_number: wire.sequence_number,
            dead_letter_source_arn: wire.dead_letter_source_arn,
        };
        Message {
            enqueued_ms: wire.enqueued_ms,
            first_receive_ms: wire.first_receive_ms.unwrap_or(NEVER_RECEIVED),
            receive_count: wire.receive_count,
            received_ms: wire.received_ms,
            state: wire.state,
            carried,
            extra: extra.boxed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message::new(MessageId::new("m"), [7; 16], Arc::from("sender"), 1_000)
    }

    #[test]
    fn test_a_queued_message_keeps_only_its_index_in_line() {
        // Contents and the rare fields are one pointer each; a regression here multiplies by
        // every message of a backlog.
        assert!(std::mem::size_of::<Message>() <= 64, "{}", std::mem::size_of::<Message>());
    }

    #[test]
    fn test_rare_fields_live_out_of_line_only_while_set() {
        let mut message = message();
        assert!(message.extra.is_none());
        message.set_dead_letter_source_arn(Some("arn:source".to_string()));
        message.set_sequence_number(Some(9));
        assert_eq!((message.dead_letter_source_arn(), message.sequence_number()), (Some("arn:source"), Some(9)));
        message.set_dead_letter_source_arn(None);
        message.restart_receives();
        assert!(message.extra.is_none(), "cleared fields free their allocation");
    }

    #[test]
    fn test_the_serialized_form_has_every_field_in_line_and_reads_back() {
        let extra = MessageExtra {
            group_id: Some("g".to_string()),
            deduplication_id: Some("d".to_string()),
            sequence_number: Some(3),
            dead_letter_source_arn: None,
        };
        let contents = BodyRecord {
            body: Arc::from("hello"),
            attributes: MessageAttributes::new(),
            system_attributes: MessageAttributes::new(),
            header: None,
        };
        for message in [message(), message().with_extra(extra).with_contents(contents)] {
            let json = serde_json::to_value(&message).unwrap();
            let fields: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(fields.len(), 16, "{fields:?}");
            let back: Message = serde_json::from_value(json).unwrap();
            assert_eq!(back, message);
            let bytes = bincode::serde::encode_to_vec(&message, bincode::config::standard()).unwrap();
            let (back, _): (Message, usize) =
                bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
            assert_eq!(back, message);
        }
    }
}
