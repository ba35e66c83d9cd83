//! A queue's messages by position, in chunks of `CHUNK_MESSAGES` consecutive positions.
//!
//! A queue's positions are handed out in send order and never reused, so its messages are
//! dense runs of positions: a chunk holds its messages in line (no map node, no box per
//! message), with bitmaps for which slots are live and which are visible. So a message costs
//! `size_of::<Message>()` and a few bits, where a tree of boxed messages plus a set of visible
//! positions and one of enqueue times cost about twice that. A chunk whose last message goes
//! is freed; one left below a quarter full (a few messages held back by delays or long
//! visibility timeouts) keeps only what is left, in a sorted vector.
//!
//! Chunks are shared (`Arc`) and copied on their first change, so cloning a queue (a snapshot
//! copy) costs one pointer per chunk, not a copy of every message.
//!
//! Retention order ("oldest enqueued first") is position order for almost every message: it
//! is the order they arrived in. Messages that arrive with an older enqueue time (a standard
//! dead-letter queue keeps the time a message was first sent) or under a clock that went back
//! are kept apart in `unordered`; the order is the merge of the two.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Message, MessageState, Seq};

const CHUNK_SHIFT: u32 = 10;
/// Positions per chunk.
pub const CHUNK_MESSAGES: usize = 1 << CHUNK_SHIFT;
const WORDS: usize = CHUNK_MESSAGES / 64;

type Bits = [u64; WORDS];

fn set_bit(bits: &mut Bits, offset: usize, on: bool) {
    let mask = 1u64 << (offset % 64);
    if on {
        bits[offset / 64] |= mask;
    } else {
        bits[offset / 64] &= !mask;
    }
}

fn bit(bits: &Bits, offset: usize) -> bool {
    bits[offset / 64] & (1u64 << (offset % 64)) != 0
}

/// The offsets whose bit is set in `bits`, ascending.
fn ones(bits: &Bits) -> impl Iterator<Item = usize> + '_ {
    bits.iter().enumerate().flat_map(|(word_index, &word)| {
        let mut word = word;
        std::iter::from_fn(move || {
            if word == 0 {
                return None;
            }
            let offset = word.trailing_zeros() as usize;
            word &= word - 1;
            Some(word_index * 64 + offset)
        })
    })
}

/// A chunk's messages: in line by offset while the chunk fills, then only the few left.
#[derive(Clone)]
enum Slots {
    Dense(Vec<Option<Message>>),
    Sparse(Vec<(u16, Message)>),
}

impl Slots {
    fn get(&self, offset: usize) -> Option<&Message> {
        match self {
            Slots::Dense(slots) => slots.get(offset)?.as_ref(),
            Slots::Sparse(slots) => {
                let index = slots.binary_search_by_key(&(offset as u16), |(at, _)| *at).ok()?;
                Some(&slots[index].1)
            }
        }
    }

    fn get_mut(&mut self, offset: usize) -> Option<&mut Message> {
        match self {
            Slots::Dense(slots) => slots.get_mut(offset)?.as_mut(),
            Slots::Sparse(slots) => {
                let index = slots.binary_search_by_key(&(offset as u16), |(at, _)| *at).ok()?;
                Some(&mut slots[index].1)
            }
        }
    }

    /// Puts `message` at `offset`, which must be free.
    fn insert(&mut self, offset: usize, message: Message) {
        match self {
            Slots::Dense(slots) => {
                if slots.len() <= offset {
                    // Grows by doubling: a queue of a few messages does not pay for a whole chunk.
                    slots.resize_with(offset + 1, || None);
                }
                debug_assert!(slots[offset].is_none(), "position {offset} taken twice");
                slots[offset] = Some(message);
            }
            Slots::Sparse(slots) => {
                let index = slots.binary_search_by_key(&(offset as u16), |(at, _)| *at).unwrap_or_else(|index| index);
                slots.insert(index, (offset as u16, message));
            }
        }
    }

    fn remove(&mut self, offset: usize) -> Option<Message> {
        match self {
            Slots::Dense(slots) => slots.get_mut(offset)?.take(),
            Slots::Sparse(slots) => {
                let index = slots.binary_search_by_key(&(offset as u16), |(at, _)| *at).ok()?;
                Some(slots.remove(index).1)
            }
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = (usize, &Message)> + '_> {
        match self {
            Slots::Dense(slots) => {
                Box::new(slots.iter().enumerate().filter_map(|(offset, slot)| Some((offset, slot.as_ref()?))))
            }
            Slots::Sparse(slots) => Box::new(slots.iter().map(|(offset, message)| (usize::from(*offset), message))),
        }
    }

    fn iter_mut(&mut self) -> Box<dyn Iterator<Item = (usize, &mut Message)> + '_> {
        match self {
            Slots::Dense(slots) => {
                Box::new(slots.iter_mut().enumerate().filter_map(|(offset, slot)| Some((offset, slot.as_mut()?))))
            }
            Slots::Sparse(slots) => Box::new(slots.iter_mut().map(|(offset, message)| (usize::from(*offset), message))),
        }
    }

    /// Keeps only the live messages, in a vector of their own size.
    fn compact(&mut self) {
        if let Slots::Dense(slots) = self {
            let kept = std::mem::take(slots)
                .into_iter()
                .enumerate()
                .filter_map(|(offset, slot)| Some((offset as u16, slot?)))
                .collect();
            *self = Slots::Sparse(kept);
        }
    }
}

#[derive(Clone)]
struct Chunk {
    slots: Slots,
    live: Bits,
    visible: Bits,
    /// Live messages kept in `MessageArena::unordered` rather than in position order.
    unordered: Bits,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk { slots: Slots::Dense(Vec::new()), live: [0; WORDS], visible: [0; WORDS], unordered: [0; WORDS] }
    }
}

/// A chunk's counts, kept beside it so that finding the first chunk with something in it does
/// not touch the chunks themselves.
#[derive(Clone, Default)]
struct Head {
    live: u32,
    visible: u32,
    /// Live messages in position order (not in `unordered`).
    ordered: u32,
    chunk: Option<Arc<Chunk>>,
}

#[derive(Clone, Default)]
pub struct MessageArena {
    /// The chunk number (`seq >> CHUNK_SHIFT`) of `heads[0]`.
    first_chunk: u64,
    heads: VecDeque<Head>,
    len: usize,
    visible: usize,
    /// The latest enqueue time of a message taken in position order; a message enqueued
    /// earlier than this goes to `unordered`.
    ordered_up_to_ms: u64,
    /// (enqueued at, position) of the live messages not in position order.
    unordered: BTreeSet<(u64, Seq)>,
}

impl MessageArena {
    pub fn new() -> MessageArena {
        MessageArena::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn visible_count(&self) -> usize {
        self.visible
    }

    fn seq_at(&self, head_index: usize, offset: usize) -> Seq {
        ((self.first_chunk + head_index as u64) << CHUNK_SHIFT) + offset as u64
    }

    /// (index in `heads`, offset in the chunk) of `seq`, if its chunk is here.
    fn locate(&self, seq: Seq) -> Option<(usize, usize)> {
        let chunk = (seq >> CHUNK_SHIFT).checked_sub(self.first_chunk)?;
        let index = usize::try_from(chunk).ok().filter(|&index| index < self.heads.len())?;
        Some((index, (seq as usize) & (CHUNK_MESSAGES - 1)))
    }

    pub fn get(&self, seq: Seq) -> Option<&Message> {
        let (index, offset) = self.locate(seq)?;
        self.heads[index].chunk.as_ref()?.slots.get(offset)
    }

    /// Changes the message at `seq` through `change` (which must keep its enqueue time), and
    /// keeps the visible set in step with its state.
    pub fn update<R>(&mut self, seq: Seq, change: impl FnOnce(&mut Message) -> R) -> Option<R> {
        let (index, offset) = self.locate(seq)?;
        let head = &mut self.heads[index];
        let chunk = Arc::make_mut(head.chunk.as_mut()?);
        let message = chunk.slots.get_mut(offset)?;
        let (was_visible, enqueued_ms) = (message.state == MessageState::Visible, message.enqueued_ms);
        let result = change(message);
        debug_assert_eq!(message.enqueued_ms, enqueued_ms, "the enqueue time orders retention");
        let is_visible = message.state == MessageState::Visible;
        if is_visible != was_visible {
            set_bit(&mut chunk.visible, offset, is_visible);
            if is_visible {
                head.visible += 1;
                self.visible += 1;
            } else {
                head.visible -= 1;
                self.visible -= 1;
            }
        }
        Some(result)
    }

    /// Adds `message` at `seq`, which must be free.
    pub fn insert(&mut self, seq: Seq, message: Message) {
        let chunk_number = seq >> CHUNK_SHIFT;
        if self.heads.is_empty() {
            self.first_chunk = chunk_number;
        }
        while chunk_number < self.first_chunk {
            self.heads.push_front(Head::default());
            self.first_chunk -= 1;
        }
        let index = (chunk_number - self.first_chunk) as usize;
        if index >= self.heads.len() {
            self.heads.resize_with(index + 1, Head::default);
        }
        let offset = (seq as usize) & (CHUNK_MESSAGES - 1);
        let ordered = message.enqueued_ms >= self.ordered_up_to_ms;
        if ordered {
            self.ordered_up_to_ms = message.enqueued_ms;
        } else {
            self.unordered.insert((message.enqueued_ms, seq));
        }
        let visible = message.state == MessageState::Visible;
        let head = &mut self.heads[index];
        let chunk = Arc::make_mut(head.chunk.get_or_insert_with(|| Arc::new(Chunk::new())));
        debug_assert!(!bit(&chunk.live, offset), "position {seq} taken twice");
        chunk.slots.insert(offset, message);
        set_bit(&mut chunk.live, offset, true);
        set_bit(&mut chunk.visible, offset, visible);
        set_bit(&mut chunk.unordered, offset, !ordered);
        head.live += 1;
        head.visible += u32::from(visible);
        head.ordered += u32::from(ordered);
        self.len += 1;
        self.visible += usize::from(visible);
    }

    pub fn remove(&mut self, seq: Seq) -> Option<Message> {
        let (index, offset) = self.locate(seq)?;
        let last = index + 1 == self.heads.len();
        let head = &mut self.heads[index];
        let chunk = Arc::make_mut(head.chunk.as_mut()?);
        let message = chunk.slots.remove(offset)?;
        let visible = bit(&chunk.visible, offset);
        let unordered = bit(&chunk.unordered, offset);
        set_bit(&mut chunk.live, offset, false);
        set_bit(&mut chunk.visible, offset, false);
        set_bit(&mut chunk.unordered, offset, false);
        head.live -= 1;
        head.visible -= u32::from(visible);
        head.ordered -= u32::from(!unordered);
        self.len -= 1;
        self.visible -= usize::from(visible);
        if unordered {
            self.unordered.remove(&(message.enqueued_ms, seq));
        }
        if head.live == 0 {
            head.chunk = None;
        } else if !last && (head.live as usize) * 4 < CHUNK_MESSAGES {
            // No position of a chunk before the last is handed out again.
            chunk.slots.compact();
        }
        while self.heads.front().is_some_and(|head| head.chunk.is_none()) {
            self.heads.pop_front();
            self.first_chunk += 1;
        }
        Some(message)
    }

    pub fn clear(&mut self) {
        *self = MessageArena::new();
    }

    /// Every message, by position.
    pub fn iter(&self) -> impl Iterator<Item = (Seq, &Message)> + '_ {
        self.heads.iter().enumerate().flat_map(move |(index, head)| {
            head.chunk
                .iter()
                .flat_map(move |chunk| chunk.slots.iter().map(move |(offset, m)| (self.seq_at(index, offset), m)))
        })
    }

    /// Every message, by position, to change what does not concern the arena (contents).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Seq, &mut Message)> + '_ {
        let first_chunk = self.first_chunk;
        self.heads.iter_mut().enumerate().flat_map(move |(index, head)| {
            let base = (first_chunk + index as u64) << CHUNK_SHIFT;
            head.chunk.iter_mut().flat_map(move |chunk| {
                Arc::make_mut(chunk).slots.iter_mut().map(move |(offset, m)| (base + offset as u64, m))
            })
        })
    }

    /// The visible messages' positions, ascending.
    pub fn visible_seqs(&self) -> impl Iterator<Item = Seq> + '_ {
        self.heads.iter().enumerate().filter(|(_, head)| head.visible > 0).flat_map(move |(index, head)| {
            head.chunk.iter().flat_map(move |chunk| ones(&chunk.visible).map(move |offset| self.seq_at(index, offset)))
        })
    }

    /// (enqueued at, position) of the messages in position order, ascending in both.
    fn ordered(&self) -> impl Iterator<Item = (u64, Seq)> + '_ {
        self.heads.iter().enumerate().filter(|(_, head)| head.ordered > 0).flat_map(move |(index, head)| {
            head.chunk.iter().flat_map(move |chunk| {
                chunk
                    .slots
                    .iter()
                    .filter(|(offset, _)| !bit(&chunk.unordered, *offset))
                    .map(move |(offset, m)| (m.enqueued_ms, self.seq_at(index, offset)))
            })
        })
    }

    /// (enqueued at, position) of every message, oldest enqueued first (position breaks ties).
    pub fn by_enqueued(&self) -> impl Iterator<Item = (u64, Seq)> + '_ {
        let mut ordered = self.ordered().peekable();
        let mut unordered = self.unordered.iter().copied().peekable();
        std::iter::from_fn(move || match (ordered.peek(), unordered.peek()) {
            (Some(a), Some(b)) if b < a => unordered.next(),
            (Some(_), _) => ordered.next(),
            (None, _) => unordered.next(),
        })
    }

    /// The oldest enqueued message: (enqueued at, position).
    pub fn first_by_enqueued(&self) -> Option<(u64, Seq)> {
        let ordered = self.heads.iter().enumerate().find(|(_, head)| head.ordered > 0).and_then(|(index, head)| {
            let chunk = head.chunk.as_ref()?;
            let mut in_order = chunk.live;
            for (word, unordered) in in_order.iter_mut().zip(chunk.unordered) {
                *word &= !unordered;
            }
            let offset = ones(&in_order).next()?;
            Some((chunk.slots.get(offset)?.enqueued_ms, self.seq_at(index, offset)))
        });
        match (ordered, self.unordered.first().copied()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl PartialEq for MessageArena {
    /// The same messages at the same positions (the rest follows from them).
    fn eq(&self, other: &MessageArena) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for MessageArena {}

impl fmt::Debug for MessageArena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Serialized as the map from position to message that snapshots have always held.
impl Serialize for MessageArena {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len))?;
        for (seq, message) in self.iter() {
            map.serialize_entry(&seq, message)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for MessageArena {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<MessageArena, D::Error> {
        struct ArenaVisitor;
        impl<'de> Visitor<'de> for ArenaVisitor {
            type Value = MessageArena;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from position to message")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MessageArena, A::Error> {
                let mut arena = MessageArena::new();
                while let Some((seq, message)) = map.next_entry::<Seq, Message>()? {
                    if arena.get(seq).is_some() {
                        return Err(serde::de::Error::custom(format!("position {seq} appears twice")));
                    }
                    arena.insert(seq, message);
                }
                Ok(arena)
            }
        }
        deserializer.deserialize_map(ArenaVisitor)
    }
}

/// A sequence serialized from the iterator `.1` makes, of known length `.0` (the format needs
/// the length up front).
pub struct SeqOf<F>(pub usize, pub F);

impl<F, I, T> Serialize for SeqOf<F>
where
    F: Fn() -> I,
    I: Iterator<Item = T>,
    T: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0))?;
        let mut written = 0;
        for item in (self.1)() {
            seq.serialize_element(&item)?;
            written += 1;
        }
        if written != self.0 {
            return Err(serde::ser::Error::custom(format!("{written} items where {} were announced", self.0)));
        }
        seq.end()
    }
}

/// A sequence read and dropped: what the arena derives from the messages themselves.
pub struct Derived<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Derived<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Derived<T>, D::Error> {
        struct SkipVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for SkipVisitor<T> {
            type Value = Derived<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Derived<T>, A::Error> {
                while seq.next_element::<T>()?.is_some() {}
                Ok(Derived(PhantomData))
            }
        }
        deserializer.deserialize_seq(SkipVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::message::MessageId;

    fn message(enqueued_ms: u64, visible: bool) -> Message {
        let mut message = Message::new(MessageId::new("m"), [0; 16], Arc::from("s"), enqueued_ms);
        if !visible {
            message.state = MessageState::InFlight { visible_at_ms: enqueued_ms + 30_000 };
        }
        message
    }

    /// The arena against a plain map of the same messages: lookups, order, visibility, counts.
    fn check(arena: &MessageArena, model: &BTreeMap<Seq, Message>) {
        assert_eq!(arena.len(), model.len());
        assert!(arena.iter().map(|(seq, m)| (seq, m.clone())).eq(model.iter().map(|(s, m)| (*s, m.clone()))));
        for (seq, message) in model {
            assert_eq!(arena.get(*seq), Some(message));
        }
        let visible: Vec<Seq> =
            model.iter().filter(|(_, m)| m.state == MessageState::Visible).map(|(s, _)| *s).collect();
        assert_eq!(arena.visible_seqs().collect::<Vec<_>>(), visible);
        assert_eq!(arena.visible_count(), visible.len());
        let mut by_enqueued: Vec<(u64, Seq)> = model.iter().map(|(s, m)| (m.enqueued_ms, *s)).collect();
        by_enqueued.sort();
        assert_eq!(arena.by_enqueued().collect::<Vec<_>>(), by_enqueued);
        assert_eq!(arena.first_by_enqueued(), by_enqueued.first().copied());
        let live_chunks = arena.heads.iter().filter(|head| head.chunk.is_some()).count();
        let model_chunks = model.keys().map(|seq| seq >> CHUNK_SHIFT).collect::<BTreeSet<_>>().len();
        assert_eq!(live_chunks, model_chunks, "a chunk without messages is freed");
        assert!(arena.heads.front().is_none_or(|head| head.chunk.is_some()), "empty front chunks are dropped");
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Send the next message, enqueued this many ms after the previous one (negative: a
        /// message that arrives with an older enqueue time).
        Send(i16, bool),
        /// Remove the message this far into the live ones (modulo their count).
        Remove(usize),
        /// Flip the visibility of the message this far in.
        Flip(usize),
        /// Take a copy and check that changing the arena leaves it as it was.
        Copy,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (-50i16..200, any::<bool>()).prop_map(|(gap, visible)| Op::Send(gap, visible)),
            3 => any::<usize>().prop_map(Op::Remove),
            1 => any::<usize>().prop_map(Op::Flip),
            1 => Just(Op::Copy),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn test_property_arena_agrees_with_a_map(ops in proptest::collection::vec(op(), 1..3000), skip in 0u64..3000) {
            let mut arena = MessageArena::new();
            let mut model = BTreeMap::new();
            let mut copies = Vec::new();
            // Start anywhere, not only at a chunk boundary; jump ahead now and then as a queue
            // read from a snapshot does.
            let mut next_seq = 1 + skip;
            let mut clock = 1_000_000u64;
            for op in ops {
                match op {
                    Op::Send(gap, visible) => {
                        clock = clock.saturating_add_signed(i64::from(gap));
                        arena.insert(next_seq, message(clock, visible));
                        model.insert(next_seq, message(clock, visible));
                        next_seq += if gap % 37 == 0 { 2 * CHUNK_MESSAGES as u64 } else { 1 };
                    }
                    Op::Remove(at) if !model.is_empty() => {
                        let seq = *model.keys().nth(at % model.len()).unwrap();
                        assert_eq!(arena.remove(seq), model.remove(&seq));
                        assert_eq!(arena.remove(seq), None);
                    }
                    Op::Flip(at) if !model.is_empty() => {
                        let seq = *model.keys().nth(at % model.len()).unwrap();
                        let flip = |m: &mut Message| {
                            m.state = match m.state {
                                MessageState::Visible => MessageState::Delayed { visible_at_ms: 5 },
                                _ => MessageState::Visible,
                            }
                        };
                        arena.update(seq, flip);
                        flip(model.get_mut(&seq).unwrap());
                    }
                    Op::Copy => copies.push((arena.clone(), model.clone())),
                    _ => {}
                }
            }
            check(&arena, &model);
            for (copy, model) in &copies {
                check(copy, model);
            }
        }
    }

    #[test]
    fn test_a_chunk_left_nearly_empty_keeps_only_what_is_left() {
        let mut arena = MessageArena::new();
        let count = 3 * CHUNK_MESSAGES as u64;
        for seq in 0..count {
            arena.insert(seq, message(seq, true));
        }
        // Keep every 100th message of the first two chunks, none of the third: the first two
        // become sparse, the third stays dense (positions in it may still be handed out).
        for seq in 0..count {
            if seq % 100 != 0 || seq >= 2 * CHUNK_MESSAGES as u64 {
                arena.remove(seq);
            }
        }
        assert!(matches!(arena.heads[0].chunk.as_deref().unwrap().slots, Slots::Sparse(_)));
        assert!(matches!(arena.heads[1].chunk.as_deref().unwrap().slots, Slots::Sparse(_)));
        assert!(arena.heads[2].chunk.is_none());
        assert_eq!(arena.len(), 21);
        assert_eq!(arena.visible_seqs().collect::<Vec<_>>(), (0..21).map(|i| i * 100).collect::<Vec<_>>());
        let bytes = bincode::serde::encode_to_vec(&arena, bincode::config::standard()).unwrap();
        let (back, _): (MessageArena, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        assert_eq!(back, arena);
    }

    #[test]
    fn test_a_copy_shares_chunks_until_one_side_changes() {
        let mut arena = MessageArena::new();
        for seq in 0..2 * CHUNK_MESSAGES as u64 {
            arena.insert(seq, message(seq, true));
        }
        let copy = arena.clone();
        let shared = |a: &MessageArena, b: &MessageArena, index: usize| {
            Arc::ptr_eq(a.heads[index].chunk.as_ref().unwrap(), b.heads[index].chunk.as_ref().unwrap())
        };
        assert!(shared(&arena, &copy, 0) && shared(&arena, &copy, 1));
        arena.update(5, |m| m.receive_count = 9);
        assert!(!shared(&arena, &copy, 0) && shared(&arena, &copy, 1), "only the changed chunk is copied");
        assert_eq!((arena.get(5).unwrap().receive_count, copy.get(5).unwrap().receive_count), (9, 0));
    }

    #[test]
    fn test_a_position_appearing_twice_in_a_snapshot_is_refused() {
        let mut map = BTreeMap::new();
        map.insert(7u64, message(1, true));
        let mut bytes = bincode::serde::encode_to_vec(&map, bincode::config::standard()).unwrap();
        // The same entry twice, under a count of two.
        let entry = bytes[1..].to_vec();
        bytes[0] = 2;
        bytes.extend(entry);
        let result: Result<(MessageArena, usize), _> =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard());
        assert!(result.unwrap_err().to_string().contains("appears twice"));
    }
}
