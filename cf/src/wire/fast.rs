//! The hot messages of a busy link, encoded and decoded by hand, byte for byte as postcard
//! does: a request carrying a single-entry list operation (write, read, move, delete) without
//! conditions, and a reply with no answer area or one entry's. The derived serde code costs
//! more per message than the rest of the link's user-space work; this path costs a fraction.
//!
//! Every other shape is left to postcard. The decoders take nothing they are unsure of: on any
//! byte they do not expect they return `None`, and postcard then decodes or refuses the bytes,
//! so on every input the result is postcard's (a proptest here and the `cf_frame` fuzz target
//! hold both directions to it).

use bytes::Bytes;

use super::codec::Appender;
use crate::structure::{
    ConToken, Conditions, CursorUpdate, DeleteEntry, End, EntryAnswer, EntryControls, EntryKey,
    EntryName, EntryType, KeyCompare, KeySource, Leid, ListNumber, ListOp, Locator, MoveEntry,
    ReadEntry, Reason, Reply, ReplyBody, Request, ReturnCode, WriteEntry,
};

/// Entry data of at least this many bytes in a reply is decoded as a slice of the reply's
/// frame; smaller data is copied. Copying a few dozen bytes costs less than counting the
/// references to a shared slice, and keeps nothing else alive.
const SHARE_DATA_FROM: usize = 1024;

/// Postcard's variant index of [`Request::List`].
const REQUEST_LIST: u32 = 3;
/// Postcard's variant index of [`ReplyBody::None`].
const BODY_NONE: u32 = 0;
/// Postcard's variant index of [`ReplyBody::Entry`].
const BODY_ENTRY: u32 = 2;

/// Whether `request` is a hot shape, which [`put_request`] encodes.
pub(super) fn takes_request(request: &Request) -> bool {
    let conditions = match request {
        Request::List { op, .. } => match op {
            ListOp::Write(write) => &write.conditions,
            ListOp::Read(read) => &read.conditions,
            ListOp::Move(movement) => &movement.conditions,
            ListOp::Delete(delete) => &delete.conditions,
            _ => return false,
        },
        _ => return false,
    };
    *conditions == Conditions::default()
}

/// Whether `reply` is a hot shape, which [`put_reply`] encodes.
pub(super) fn takes_reply(reply: &Reply) -> bool {
    matches!(reply.body, ReplyBody::None | ReplyBody::Entry(_))
}

// ---------------------------------------------------------------------------------------
// Encoding

/// Appends a LEB128 varint, as postcard encodes every integer wider than a byte.
#[inline]
fn put_varint(out: &mut Appender<'_>, mut value: u64) {
    while value >= 0x80 {
        out.push(value.to_le_bytes()[0] | 0x80);
        value >>= 7;
    }
    out.push(value.to_le_bytes()[0]);
}

fn put_bool(out: &mut Appender<'_>, value: bool) {
    out.push(u8::from(value));
}

fn put_option<T>(out: &mut Appender<'_>, value: Option<T>, put: impl FnOnce(&mut Appender<'_>, T)) {
    match value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            put(out, value);
        }
    }
}

fn put_bytes(out: &mut Appender<'_>, bytes: &[u8]) {
    put_varint(out, u64::try_from(bytes.len()).unwrap_or(u64::MAX));
    out.extend(bytes);
}

fn put_end(out: &mut Appender<'_>, end: End) {
    out.push(end as u8);
}

fn put_key_source(out: &mut Appender<'_>, key: KeySource) {
    match key {
        KeySource::Keep => out.push(0),
        KeySource::Explicit(key) => {
            out.push(1);
            out.extend(&key.0);
        }
        KeySource::ListKey { increment } => {
            out.push(2);
            put_bool(out, increment);
        }
    }
}

fn put_locator(out: &mut Appender<'_>, locator: &Locator) {
    match locator {
        Locator::Leid(leid) => {
            out.push(0);
            out.extend(&leid.0);
        }
        Locator::Name(name) => {
            out.push(1);
            out.extend(&name.0);
        }
        Locator::Cursor { list } => {
            out.push(2);
            put_varint(out, list.0.into());
        }
        Locator::Position { list, end } => {
            out.push(3);
            put_varint(out, list.0.into());
            put_end(out, *end);
        }
        Locator::Key {
            list,
            key,
            compare,
            end,
        } => {
            out.push(4);
            put_varint(out, list.0.into());
            out.extend(&key.0);
            out.push(*compare as u8);
            put_end(out, *end);
        }
    }
}

/// The four absent options of default conditions.
const NO_CONDITIONS: [u8; 4] = [0; 4];

/// Appends the start of a message: its variant and its request id.
pub(super) fn put_head(out: &mut Appender<'_>, variant: u32, id: u64) {
    put_varint(out, variant.into());
    put_varint(out, id);
}

/// Appends postcard's encoding of `request`, a hot shape (see [`takes_request`]; of any other
/// nothing is appended).
pub(super) fn put_request(out: &mut Appender<'_>, request: &Request) {
    debug_assert!(takes_request(request));
    let Request::List { token, op } = request else {
        return;
    };
    put_varint(out, REQUEST_LIST.into());
    out.extend(&token.0);
    match op {
        ListOp::Write(write) => {
            out.push(0);
            out.push(write.entry_type as u8);
            put_varint(out, write.list.0.into());
            put_option(out, write.locator.as_ref(), put_locator);
            put_option(out, write.name, |out, name| out.extend(&name.0));
            put_option(out, write.leid, |out, leid| out.extend(&leid.0));
            put_key_source(out, write.key);
            put_end(out, write.end);
            put_bytes(out, &write.data);
            put_option(out, write.adjunct.as_deref(), put_bytes);
        }
        ListOp::Read(read) => {
            out.push(1);
            put_locator(out, &read.locator);
            put_option(out, read.cursor, |out, cursor| out.push(cursor as u8));
        }
        ListOp::Move(movement) => {
            out.push(2);
            put_locator(out, &movement.locator);
            put_varint(out, movement.to.0.into());
            put_end(out, movement.end);
            put_key_source(out, movement.key);
            put_bool(out, movement.read);
            put_option(out, movement.write.as_ref(), |out, (data, adjunct)| {
                put_bytes(out, data);
                put_option(out, adjunct.as_deref(), put_bytes);
            });
        }
        ListOp::Delete(delete) => {
            out.push(3);
            put_locator(out, &delete.locator);
            put_bool(out, delete.read);
        }
        _ => return,
    }
    out.extend(&NO_CONDITIONS);
}

/// Appends postcard's encoding of `reply`, a hot shape (see [`takes_reply`]).
pub(super) fn put_reply(out: &mut Appender<'_>, reply: &Reply) {
    debug_assert!(takes_reply(reply));
    out.push(reply.rc as u8);
    put_varint(out, reply.reason as u64);
    match &reply.body {
        ReplyBody::None => put_varint(out, BODY_NONE.into()),
        ReplyBody::Entry(entry) => {
            put_varint(out, BODY_ENTRY.into());
            let controls = &entry.controls;
            out.extend(&controls.leid.0);
            put_varint(out, controls.list.0.into());
            put_option(out, controls.key, |out, key| out.extend(&key.0));
            put_option(out, controls.name, |out, name| out.extend(&name.0));
            put_varint(out, controls.version);
            put_varint(out, controls.elements.into());
            put_varint(out, controls.data_len.into());
            put_option(out, entry.data.as_deref(), put_bytes);
            put_option(out, entry.adjunct.as_deref(), put_bytes);
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// Decoding

/// Postcard's encoding read from a byte slice. Every method returns `None` on what the fast
/// path does not take, and the caller then hands the bytes to postcard.
pub(super) struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The bytes not read yet.
    pub(super) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    fn byte(&mut self) -> Option<u8> {
        let (&byte, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(byte)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (array, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        Some(*array)
    }

    /// A varint of at most `max` bytes whose last byte is at most `last`: postcard's rule.
    fn varint(&mut self, max: usize, last: u8) -> Option<u64> {
        let mut value = 0;
        for i in 0..max {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                return (i + 1 < max || byte <= last).then_some(value);
            }
        }
        None
    }

    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.varint(5, 0x0F)?).ok()
    }

    pub(super) fn u64(&mut self) -> Option<u64> {
        self.varint(10, 0x01)
    }

    pub(super) fn variant(&mut self) -> Option<u32> {
        self.u32()
    }

    fn bool(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn option<T>(&mut self, some: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.byte()? {
            0 => Some(None),
            1 => some(self).map(Some),
            _ => None,
        }
    }

    /// A length-prefixed byte string, as the slice it is in the input.
    fn slice(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u64()?).ok()?;
        let (bytes, rest) = self.rest.split_at_checked(len)?;
        self.rest = rest;
        Some(bytes)
    }

    fn bytes(&mut self) -> Option<Vec<u8>> {
        self.slice().map(<[u8]>::to_vec)
    }

    /// A fieldless enum's value: `variants` lists them in declaration order.
    fn one_of<T: Copy>(&mut self, variants: &[T]) -> Option<T> {
        variants
            .get(usize::try_from(self.variant()?).ok()?)
            .copied()
    }

    fn end(&mut self) -> Option<End> {
        self.one_of(&[End::Head, End::Tail])
    }

    fn list(&mut self) -> Option<ListNumber> {
        self.u32().map(ListNumber)
    }

    fn key_source(&mut self) -> Option<KeySource> {
        match self.variant()? {
            0 => Some(KeySource::Keep),
            1 => Some(KeySource::Explicit(EntryKey(self.array()?))),
            2 => Some(KeySource::ListKey {
                increment: self.bool()?,
            }),
            _ => None,
        }
    }

    fn locator(&mut self) -> Option<Locator> {
        Some(match self.variant()? {
            0 => Locator::Leid(Leid(self.array()?)),
            1 => Locator::Name(EntryName(self.array()?)),
            2 => Locator::Cursor { list: self.list()? },
            3 => Locator::Position {
                list: self.list()?,
                end: self.end()?,
            },
            4 => Locator::Key {
                list: self.list()?,
                key: EntryKey(self.array()?),
                compare: self.one_of(&[
                    KeyCompare::Equal,
                    KeyCompare::LessOrEqual,
                    KeyCompare::GreaterOrEqual,
                ])?,
                end: self.end()?,
            },
            _ => return None,
        })
    }

    /// Default conditions only; any other goes to postcard.
    fn no_conditions(&mut self) -> Option<Conditions> {
        (self.array::<4>()? == NO_CONDITIONS).then(Conditions::default)
    }

    fn write_entry(&mut self) -> Option<WriteEntry> {
        Some(WriteEntry {
            entry_type: self.one_of(&[EntryType::New, EntryType::Old, EntryType::Any])?,
            list: self.list()?,
            locator: self.option(Self::locator)?,
            name: self.option(|input| input.array().map(EntryName))?,
            leid: self.option(|input| input.array().map(Leid))?,
            key: self.key_source()?,
            end: self.end()?,
            data: self.bytes()?,
            adjunct: self.option(Self::bytes)?,
            conditions: self.no_conditions()?,
        })
    }

    fn move_entry(&mut self) -> Option<MoveEntry> {
        Some(MoveEntry {
            locator: self.locator()?,
            to: self.list()?,
            end: self.end()?,
            key: self.key_source()?,
            read: self.bool()?,
            write: self.option(|input| Some((input.bytes()?, input.option(Self::bytes)?)))?,
            conditions: self.no_conditions()?,
        })
    }

    /// A request of a hot shape.
    pub(super) fn request(&mut self) -> Option<Request> {
        if self.variant()? != REQUEST_LIST {
            return None;
        }
        let token = ConToken(self.array()?);
        let op = match self.variant()? {
            0 => ListOp::Write(self.write_entry()?),
            1 => ListOp::Read(ReadEntry {
                locator: self.locator()?,
                cursor: self
                    .option(|input| input.one_of(&[CursorUpdate::Next, CursorUpdate::Current]))?,
                conditions: self.no_conditions()?,
            }),
            2 => ListOp::Move(self.move_entry()?),
            3 => ListOp::Delete(DeleteEntry {
                locator: self.locator()?,
                read: self.bool()?,
                conditions: self.no_conditions()?,
            }),
            _ => return None,
        };
        Some(Request::List { token, op })
    }

    fn entry_controls(&mut self) -> Option<EntryControls> {
        Some(EntryControls {
            leid: Leid(self.array()?),
            list: self.list()?,
            key: self.option(|input| input.array().map(EntryKey))?,
            name: self.option(|input| input.array().map(EntryName))?,
            version: self.u64()?,
            elements: self.u32()?,
            data_len: self.u32()?,
        })
    }

    /// A reply of a hot shape; its entry data, when large, is a slice of `frame`, the bytes
    /// this input reads (see [`SHARE_DATA_FROM`]).
    pub(super) fn reply(&mut self, frame: &Bytes) -> Option<Reply> {
        let rc = self.one_of(&[
            ReturnCode::Ok,
            ReturnCode::Warning,
            ReturnCode::ParmError,
            ReturnCode::EnvError,
            ReturnCode::CompError,
        ])?;
        let reason = self.one_of(Reason::ALL)?;
        let body = match self.variant()? {
            BODY_NONE => ReplyBody::None,
            BODY_ENTRY => ReplyBody::Entry(EntryAnswer {
                controls: self.entry_controls()?,
                data: self.option(|input| input.slice().map(|data| share(frame, data)))?,
                adjunct: self.option(|input| input.bytes().map(Vec::into_boxed_slice))?,
            }),
            _ => return None,
        };
        Some(Reply { rc, reason, body })
    }
}

/// `data`, a part of `frame`, as a slice of it when large, else as a copy.
fn share(frame: &Bytes, data: &[u8]) -> Bytes {
    if data.len() >= SHARE_DATA_FROM {
        frame.slice_ref(data)
    } else {
        Bytes::copy_from_slice(data)
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::structure::{Authority, AuthorityCheck, Compare, VersionUpdate};
    use crate::wire::{
        CfMessage, ConnectorMessage, DEFAULT_MAX_FRAME, HEADER_LEN, ReplyFrame, RequestFrame,
        RequestId, decode_cf_message, decode_connector_message,
    };

    fn end() -> impl Strategy<Value = End> {
        prop_oneof![Just(End::Head), Just(End::Tail)]
    }

    fn data() -> impl Strategy<Value = Vec<u8>> {
        vec(any::<u8>(), 0..80)
    }

    fn locator() -> impl Strategy<Value = Locator> {
        let compare = prop_oneof![
            Just(KeyCompare::Equal),
            Just(KeyCompare::LessOrEqual),
            Just(KeyCompare::GreaterOrEqual)
        ];
        prop_oneof![
            any::<[u8; 12]>().prop_map(|leid| Locator::Leid(Leid(leid))),
            any::<[u8; 16]>().prop_map(|name| Locator::Name(EntryName(name))),
            any::<u32>().prop_map(|list| Locator::Cursor {
                list: ListNumber(list)
            }),
            (any::<u32>(), end()).prop_map(|(list, end)| Locator::Position {
                list: ListNumber(list),
                end
            }),
            (any::<u32>(), any::<[u8; 16]>(), compare, end()).prop_map(
                |(list, key, compare, end)| Locator::Key {
                    list: ListNumber(list),
                    key: EntryKey(key),
                    compare,
                    end
                }
            ),
        ]
    }

    fn key_source() -> impl Strategy<Value = KeySource> {
        prop_oneof![
            Just(KeySource::Keep),
            any::<[u8; 16]>().prop_map(|key| KeySource::Explicit(EntryKey(key))),
            any::<bool>().prop_map(|increment| KeySource::ListKey { increment }),
        ]
    }

    /// Mostly default conditions (the hot shape), sometimes others (left to postcard).
    fn conditions() -> impl Strategy<Value = Conditions> {
        prop_oneof![
            4 => Just(Conditions::default()),
            1 => Just(Conditions {
                version_update: Some(VersionUpdate::Increment),
                ..Conditions::default()
            }),
            1 => any::<[u8; 16]>().prop_map(|value| Conditions {
                authority: Some(AuthorityCheck {
                    compare: Compare::Equal,
                    value: Authority(value),
                    new: None,
                }),
                ..Conditions::default()
            }),
        ]
    }

    fn write_entry() -> impl Strategy<Value = WriteEntry> {
        let entry_type = prop_oneof![
            Just(EntryType::New),
            Just(EntryType::Old),
            Just(EntryType::Any)
        ];
        let names = (
            proptest::option::of(any::<[u8; 16]>().prop_map(EntryName)),
            proptest::option::of(any::<[u8; 12]>().prop_map(Leid)),
        );
        (
            (entry_type, any::<u32>(), proptest::option::of(locator())),
            names,
            (key_source(), end(), data()),
            (proptest::option::of(data()), conditions()),
        )
            .prop_map(
                |(
                    (entry_type, list, locator),
                    (name, leid),
                    (key, end, data),
                    (adjunct, conditions),
                )| {
                    WriteEntry {
                        entry_type,
                        list: ListNumber(list),
                        locator,
                        name,
                        leid,
                        key,
                        end,
                        data,
                        adjunct,
                        conditions,
                    }
                },
            )
    }

    fn list_op() -> impl Strategy<Value = ListOp> {
        let cursor = proptest::option::of(prop_oneof![
            Just(CursorUpdate::Next),
            Just(CursorUpdate::Current)
        ]);
        let write = proptest::option::of((data(), proptest::option::of(data())));
        prop_oneof![
            write_entry().prop_map(ListOp::Write),
            (locator(), cursor, conditions()).prop_map(|(locator, cursor, conditions)| {
                ListOp::Read(ReadEntry {
                    locator,
                    cursor,
                    conditions,
                })
            }),
            (
                (locator(), any::<u32>(), end(), key_source()),
                (any::<bool>(), write, conditions())
            )
                .prop_map(|((locator, to, end, key), (read, write, conditions))| {
                    ListOp::Move(MoveEntry {
                        locator,
                        to: ListNumber(to),
                        end,
                        key,
                        read,
                        write,
                        conditions,
                    })
                }),
            (locator(), any::<bool>(), conditions()).prop_map(|(locator, read, conditions)| {
                ListOp::Delete(DeleteEntry {
                    locator,
                    read,
                    conditions,
                })
            }),
            any::<u32>().prop_map(|list| ListOp::ReadListControls {
                list: ListNumber(list)
            }),
        ]
    }

    fn request() -> impl Strategy<Value = Request> {
        prop_oneof![
            6 => (any::<[u8; 16]>(), list_op()).prop_map(|(token, op)| Request::List {
                token: ConToken(token),
                op
            }),
            1 => Just(Request::Heartbeat),
            1 => any::<[u8; 16]>().prop_map(|token| Request::Disconnect {
                token: ConToken(token)
            }),
        ]
    }

    fn reply() -> impl Strategy<Value = Reply> {
        let rc = prop_oneof![
            Just(ReturnCode::Ok),
            Just(ReturnCode::Warning),
            Just(ReturnCode::ParmError),
            Just(ReturnCode::EnvError),
            Just(ReturnCode::CompError)
        ];
        let controls = (
            (any::<[u8; 12]>(), any::<u32>()),
            (
                proptest::option::of(any::<[u8; 16]>()),
                proptest::option::of(any::<[u8; 16]>()),
            ),
            (any::<u64>(), any::<u32>(), any::<u32>()),
        )
            .prop_map(
                |((leid, list), (key, name), (version, elements, data_len))| EntryControls {
                    leid: Leid(leid),
                    list: ListNumber(list),
                    key: key.map(EntryKey),
                    name: name.map(EntryName),
                    version,
                    elements,
                    data_len,
                },
            );
        let entry = (
            controls,
            proptest::option::of(data()),
            proptest::option::of(data()),
        )
            .prop_map(|(controls, data, adjunct)| EntryAnswer {
                controls,
                data: data.map(Bytes::from),
                adjunct: adjunct.map(Vec::into_boxed_slice),
            });
        let body = prop_oneof![
            Just(ReplyBody::None),
            entry.prop_map(ReplyBody::Entry),
            any::<[u8; 16]>().prop_map(|a| ReplyBody::Authority(Authority(a))),
        ];
        (rc, proptest::sample::select(Reason::ALL), body).prop_map(|(rc, reason, body)| Reply {
            rc,
            reason,
            body,
        })
    }

    /// Bytes at the edges of what postcard takes: small tags, varint continuation bits.
    fn edgy_byte() -> impl Strategy<Value = u8> {
        prop_oneof![0u8..4, 0x0Eu8..0x12, 0x7Eu8..0x82, any::<u8>()]
    }

    /// The bytes of a read (op 1) or a read-and-delete (op 3) of the head of list 1.
    fn head_request_bytes(op: u8) -> Vec<u8> {
        let locator = Locator::Position {
            list: ListNumber(1),
            end: End::Head,
        };
        let conditions = Conditions::default();
        let op = match op {
            1 => ListOp::Read(ReadEntry {
                locator,
                cursor: None,
                conditions,
            }),
            _ => ListOp::Delete(DeleteEntry {
                locator,
                read: true,
                conditions,
            }),
        };
        let request = Request::List {
            token: ConToken([7; 16]),
            op,
        };
        postcard::to_allocvec(&request).unwrap()
    }

    #[test]
    fn bytes_postcard_refuses_are_not_taken() {
        // Variant, token (16 bytes), op, locator variant, list, end, then the read's cursor
        // option (the delete's read flag), then the conditions.
        let (list, end, cursor_or_flag, conditions) = (19, 20, 21, 22);
        let change = |op: u8, at: usize, bytes: &[u8]| {
            let mut changed = head_request_bytes(op);
            changed.splice(at..=at, bytes.iter().copied());
            changed
        };
        for op in [1, 3] {
            let good = head_request_bytes(op);
            assert_eq!(
                Input::new(&good).request(),
                Some(postcard::from_bytes(&good).unwrap())
            );
            assert_eq!(Input::new(&good[..good.len() - 1]).request(), None);
        }
        for bad in [
            change(1, end, &[2]),
            change(1, cursor_or_flag, &[2]),
            change(1, cursor_or_flag, &[1, 2]),
            change(1, cursor_or_flag, &[3, 0]),
            change(3, cursor_or_flag, &[2]),
            change(1, conditions, &[1]),
            change(1, list, &[0xFF, 0xFF, 0xFF, 0xFF, 0x10]),
            change(1, list, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
        ] {
            assert_eq!(Input::new(&bad).request(), None, "{bad:02X?}");
            assert!(postcard::from_bytes::<Request>(&bad).is_err(), "{bad:02X?}");
        }
        let long_list = change(1, list, &[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
        let plain = postcard::from_bytes(&long_list).unwrap();
        assert_eq!(Input::new(&long_list).request(), Some(plain));
    }

    #[test]
    fn reasons_are_numbered_on_the_wire_in_declaration_order() {
        for (index, reason) in Reason::ALL.iter().enumerate() {
            let index = u32::try_from(index).unwrap();
            assert_eq!(
                postcard::to_allocvec(reason).unwrap(),
                postcard::to_allocvec(&index).unwrap(),
                "{reason:?}"
            );
            assert_eq!(*reason as u32, index);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn requests_encode_as_postcard_and_decode_back(request in request(), id in any::<u64>()) {
            let id = RequestId(id);
            let mut frame = BytesMut::new();
            RequestFrame { id, request: &request }.encode(&mut frame, DEFAULT_MAX_FRAME).unwrap();
            let message = ConnectorMessage::Request { id, request: request.clone() };
            let plain = postcard::to_allocvec(&message).unwrap();
            prop_assert_eq!(&frame[HEADER_LEN..], plain.as_slice());
            let (decoded, received) = decode_connector_message(&plain).unwrap();
            prop_assert_eq!(decoded, message);
            let request_bytes = postcard::to_allocvec(&request).unwrap();
            prop_assert_eq!(received, Some(request_bytes.as_slice()));
        }

        #[test]
        fn replies_encode_as_postcard_and_decode_back(reply in reply(), id in any::<u64>()) {
            let id = RequestId(id);
            let mut frame = BytesMut::new();
            ReplyFrame { id, reply: &reply }.encode(&mut frame, DEFAULT_MAX_FRAME).unwrap();
            let message = CfMessage::Reply { id, reply };
            let plain = postcard::to_allocvec(&message).unwrap();
            prop_assert_eq!(&frame[HEADER_LEN..], plain.as_slice());
            prop_assert_eq!(decode_cf_message(&Bytes::from(plain)).unwrap(), message);
        }

        /// A hot request or reply with some bytes changed, perhaps cut short: whatever the
        /// hand decoders take, postcard takes the same way.
        #[test]
        fn the_hand_decoders_take_only_what_postcard_takes(
            request in request(),
            reply in reply(),
            changes in vec((any::<prop::sample::Index>(), edgy_byte()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let change = |mut bytes: Vec<u8>| {
                for (at, byte) in &changes {
                    let at = at.index(bytes.len());
                    bytes[at] = *byte;
                }
                bytes.truncate(cut.index(bytes.len() + 1).max(bytes.len() / 2));
                bytes
            };
            let request = change(postcard::to_allocvec(&request).unwrap());
            taken_as_postcard_takes(&request, Input::request)?;
            let reply = Bytes::from(change(postcard::to_allocvec(&reply).unwrap()));
            taken_as_postcard_takes(&reply, |input| input.reply(&reply))?;
        }
    }

    /// If `decode` takes a value from the start of `bytes`, postcard takes the same value and
    /// leaves the same rest.
    fn taken_as_postcard_takes<'a, T>(
        bytes: &'a [u8],
        decode: impl FnOnce(&mut Input<'a>) -> Option<T>,
    ) -> Result<(), TestCaseError>
    where
        T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let mut input = Input::new(bytes);
        if let Some(fast) = decode(&mut input) {
            let (plain, rest) = postcard::take_from_bytes::<T>(bytes).unwrap();
            prop_assert_eq!(fast, plain);
            prop_assert_eq!(input.rest().len(), rest.len());
        }
        Ok(())
    }
}
