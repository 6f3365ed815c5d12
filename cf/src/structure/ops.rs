//! Single-entry operations (IXLLSTE WRITE, READ, MOVE, DELETE) and the lock operations joined
//! to them. Every check runs before the first change, so a refused request changes nothing.

use super::attrs::{ADJUNCT_BYTES, EntryIdType};
use super::codes::Reason;
use super::entry::Entry;
use super::ids::{EntryKey, Leid, ListNumber};
use super::instance::{Growth, ListStructure};
use super::list::Position;
use super::reply::{Delivery, EntryAnswer, Reply, ReplyBody};
use super::request::{
    Conditions, CursorUpdate, DeleteEntry, End, EntryType, KeyCompare, KeySource, Locator,
    MoveEntry, ReadEntry, VersionUpdate, WriteEntry,
};

impl From<Reason> for Reply {
    fn from(reason: Reason) -> Self {
        Reply::refused(reason)
    }
}

/// A refused request's reply, boxed to keep `Result`s small.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) Box<Reply>);

impl From<Reply> for Refused {
    fn from(reply: Reply) -> Self {
        Self(Box::new(reply))
    }
}

impl From<Reason> for Refused {
    fn from(reason: Reason) -> Self {
        Reply::refused(reason).into()
    }
}

/// A key to give an entry, and the list's LISTKEY afterwards when LISTKEYINC bumped it.
type KeyChoice = (EntryKey, Option<EntryKey>);

impl ListStructure {
    /// IXLLSTE WRITE.
    pub(crate) fn write(
        &mut self,
        w: WriteEntry,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, Refused> {
        self.list(w.list)?;
        self.check_buffers(&w.data, w.adjunct.as_deref())?;
        if w.key != KeySource::Keep && !self.attrs.keyed() {
            return Err(Reason::NotSupported.into());
        }
        let existing = match (w.entry_type, &w.locator) {
            (EntryType::New, None) => None,
            (EntryType::New, Some(_)) | (_, None) => return Err(Reason::BadParmList.into()),
            (entry_type, Some(locator)) => match self.locate(locator) {
                Ok(leid) => Some(leid),
                Err(Reason::NoEntry) if entry_type == EntryType::Any => None,
                Err(reason) => return Err(reason.into()),
            },
        };
        match existing {
            Some(leid) => self.write_old(leid, w, out),
            None => self.write_new(w, out),
        }
    }

    fn write_new(&mut self, w: WriteEntry, out: &mut Vec<Delivery>) -> Result<Reply, Refused> {
        let name = w.name.or(match w.locator {
            Some(Locator::Name(name)) => Some(name),
            _ => None,
        });
        if let Some(name) = name {
            if !self.attrs.named() {
                return Err(Reason::NotSupported.into());
            }
            if self.names.contains_key(&name) {
                return Err(Reason::DupEntry.into());
            }
        }
        let user_leid = match self.attrs.entry_id_type {
            EntryIdType::System if w.leid.is_some() => return Err(Reason::BadParmList.into()),
            EntryIdType::System => None,
            EntryIdType::User => {
                let from_locator = match w.locator {
                    Some(Locator::Leid(leid)) => Some(leid),
                    _ => None,
                };
                Some(w.leid.or(from_locator).ok_or(Reason::BadParmList)?)
            }
        };
        if user_leid.is_some_and(|leid| self.entries.contains_key(&leid)) {
            return Err(Reason::DupEntry.into());
        }
        let (key, list_key) = self.choose_key(w.list, w.key, EntryKey::default())?;
        self.check_conditions(w.list, None, &w.conditions)?;
        let elements = self.attrs.elements_for(w.data.len());
        self.check_room(
            w.list,
            Growth {
                list_entries: 1,
                list_elements: i64::from(elements),
                entries: 1,
                elements: i64::from(elements),
            },
        )?;
        let leid = user_leid.unwrap_or_else(|| self.take_system_leid());
        let position = self.list(w.list)?.insert_position(key, w.end);
        let version = match w.conditions.version_update {
            Some(update) => updated_version(0, update),
            None => 0,
        };
        let adjunct = self
            .attrs
            .adjunct
            .then(|| w.adjunct.unwrap_or_else(|| vec![0; ADJUNCT_BYTES]));
        self.commit_conditions(w.list, None, &w.conditions);
        self.set_list_key(w.list, list_key);
        let entry = Box::new(Entry {
            leid,
            list: w.list,
            position,
            name,
            version,
            elements,
            data: w.data.into(),
            adjunct,
        });
        let answer = self.answer(&entry, false);
        self.insert(entry, out);
        Ok(Reply::ok(ReplyBody::Entry(answer)))
    }

    fn write_old(
        &mut self,
        leid: Leid,
        w: WriteEntry,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, Refused> {
        let entry = self.entries.get(&leid).ok_or(Reason::NoEntry)?;
        let (list, old_key, old_elements) = (entry.list, entry.position.key, entry.elements);
        self.check_conditions(list, Some(entry), &w.conditions)?;
        let (key, list_key) = self.choose_key(list, w.key, old_key)?;
        let elements = self.attrs.elements_for(w.data.len());
        let delta = i64::from(elements) - i64::from(old_elements);
        self.check_room(
            list,
            Growth {
                list_elements: delta,
                elements: delta,
                ..Growth::default()
            },
        )?;
        self.rewrite(leid, w.data, w.adjunct);
        if key != old_key {
            let position = self.list(list)?.insert_position(key, w.end);
            self.relocate(leid, list, position, out);
        }
        self.commit_conditions(list, Some(leid), &w.conditions);
        self.set_list_key(list, list_key);
        Ok(Reply::ok(ReplyBody::Entry(self.answer_for(leid, false)?)))
    }

    /// IXLLSTE READ.
    pub(crate) fn read(&mut self, r: &ReadEntry) -> Result<Reply, Refused> {
        let leid = self.locate(&r.locator)?;
        let entry = self.entries.get(&leid).ok_or(Reason::NoEntry)?;
        let (list, position) = (entry.list, entry.position);
        self.check_conditions(list, Some(entry), &r.conditions)?;
        // Only a version update changes what the answer shows of the entry; without one, the
        // answer comes from the entry already found.
        let answer = r
            .conditions
            .version_update
            .is_none()
            .then(|| self.answer(entry, true));
        self.commit_conditions(list, Some(leid), &r.conditions);
        if let Some(update) = r.cursor {
            let cursor = match update {
                CursorUpdate::Current => Some(leid),
                CursorUpdate::Next => self.list(list)?.next_after(position),
            };
            self.set_cursor(list, cursor);
        }
        let answer = match answer {
            Some(answer) => answer,
            None => self.answer_for(leid, true)?,
        };
        Ok(Reply::ok(ReplyBody::Entry(answer)))
    }

    /// IXLLSTE MOVE, with READ or WRITE.
    pub(crate) fn move_entry(
        &mut self,
        m: MoveEntry,
        out: &mut Vec<Delivery>,
    ) -> Result<Reply, Refused> {
        self.list(m.to)?;
        if m.read && m.write.is_some() {
            return Err(Reason::BadParmList.into());
        }
        if let Some((data, adjunct)) = &m.write {
            self.check_buffers(data, adjunct.as_deref())?;
        }
        if m.key != KeySource::Keep && !self.attrs.keyed() {
            return Err(Reason::NotSupported.into());
        }
        let leid = self.locate(&m.locator)?;
        let entry = self.entries.get(&leid).ok_or(Reason::NoEntry)?;
        let (from, old_key, old_elements) = (entry.list, entry.position.key, entry.elements);
        self.check_conditions(from, Some(entry), &m.conditions)?;
        let (key, list_key) = self.choose_key(m.to, m.key, old_key)?;
        let elements = m
            .write
            .as_ref()
            .map_or(old_elements, |(d, _)| self.attrs.elements_for(d.len()));
        let delta = i64::from(elements) - i64::from(old_elements);
        let growth = if from == m.to {
            Growth {
                list_elements: delta,
                elements: delta,
                ..Growth::default()
            }
        } else {
            Growth {
                list_entries: 1,
                list_elements: i64::from(elements),
                entries: 0,
                elements: delta,
            }
        };
        self.check_room(m.to, growth)?;
        let read = m.read.then(|| self.answer_for(leid, true)).transpose()?;
        if let Some((data, adjunct)) = m.write {
            self.rewrite(leid, data, adjunct);
        }
        let position = self.list(m.to)?.insert_position(key, m.end);
        self.relocate(leid, m.to, position, out);
        self.commit_conditions(from, Some(leid), &m.conditions);
        self.set_list_key(m.to, list_key);
        let mut answer = self.answer_for(leid, false)?;
        if let Some(read) = read {
            answer.data = read.data;
            answer.adjunct = read.adjunct;
        }
        Ok(Reply::ok(ReplyBody::Entry(answer)))
    }

    /// IXLLSTE DELETE, optionally reading first.
    pub(crate) fn delete(&mut self, d: &DeleteEntry) -> Result<Reply, Refused> {
        let leid = self.locate(&d.locator)?;
        let entry = self.entries.get(&leid).ok_or(Reason::NoEntry)?;
        let list = entry.list;
        self.check_conditions(list, Some(entry), &d.conditions)?;
        self.commit_conditions(list, Some(leid), &d.conditions);
        let mut answer = self.answer_for(leid, false)?;
        let entry = self.remove(leid).ok_or(Reason::NoEntry)?;
        if d.read {
            answer.data = Some(entry.data);
            answer.adjunct = entry.adjunct.map(Vec::into_boxed_slice);
        }
        Ok(Reply::ok(ReplyBody::Entry(answer)))
    }

    /// Finds the entry a locator designates.
    pub(crate) fn locate(&self, locator: &Locator) -> Result<Leid, Reason> {
        match *locator {
            Locator::Leid(leid) => self
                .entries
                .contains_key(&leid)
                .then_some(leid)
                .ok_or(Reason::NoEntry),
            Locator::Name(name) => {
                if !self.attrs.named() {
                    return Err(Reason::NotSupported);
                }
                self.names.get(&name).copied().ok_or(Reason::NoEntry)
            }
            Locator::Cursor { list } => {
                self.list(list)?.controls.cursor.ok_or(Reason::CursorNotSet)
            }
            Locator::Position { list, end } => {
                self.list(list)?.end_entry(end).ok_or(Reason::NoEntry)
            }
            Locator::Key {
                list,
                key,
                compare,
                end,
            } => {
                if !self.attrs.keyed() {
                    return Err(Reason::NotSupported);
                }
                let l = self.list(list)?;
                let found = match compare {
                    KeyCompare::Equal => (!l.sublist_is_empty(key)).then_some(key),
                    KeyCompare::LessOrEqual => l
                        .order
                        .range(
                            ..=Position {
                                key,
                                order: i64::MAX,
                            },
                        )
                        .next_back()
                        .map(|(p, _)| p.key),
                    KeyCompare::GreaterOrEqual => l
                        .order
                        .range(
                            Position {
                                key,
                                order: i64::MIN,
                            }..,
                        )
                        .next()
                        .map(|(p, _)| p.key),
                };
                let found = found.ok_or(Reason::NoEntry)?;
                let mut sublist = l.sublist(found);
                let hit = match end {
                    End::Head => sublist.next(),
                    End::Tail => sublist.next_back(),
                };
                hit.map(|(_, leid)| *leid).ok_or(Reason::NoEntry)
            }
        }
    }

    /// Checks a data buffer and adjunct against the structure.
    fn check_buffers(&self, data: &[u8], adjunct: Option<&[u8]>) -> Result<(), Reason> {
        let max = u64::from(self.attrs.max_elem_num) * u64::from(self.attrs.element_size());
        if u64::try_from(data.len()).unwrap_or(u64::MAX) > max {
            return Err(Reason::BadBufSize);
        }
        match adjunct {
            Some(_) if !self.attrs.adjunct => Err(Reason::NotSupported),
            Some(a) if a.len() != ADJUNCT_BYTES => Err(Reason::BadBufSize),
            _ => Ok(()),
        }
    }

    /// The key an entry gets in `list` from `source` (current key for Keep).
    fn choose_key(
        &self,
        list: ListNumber,
        source: KeySource,
        current: EntryKey,
    ) -> Result<KeyChoice, Reason> {
        let controls = &self.list(list)?.controls;
        match source {
            KeySource::Keep => Ok((current, None)),
            KeySource::Explicit(key) => Ok((key, None)),
            KeySource::ListKey { increment } => {
                let key = controls.list_key;
                if key > controls.max_list_key {
                    return Err(Reason::MaxListKey);
                }
                let next = if increment {
                    Some(key.checked_inc().ok_or(Reason::MaxListKey)?)
                } else {
                    None
                };
                Ok((key, next))
            }
        }
    }

    /// Checks authority and version; a failure answers with the current authority or the
    /// entry's controls.
    pub(crate) fn check_conditions(
        &self,
        list: ListNumber,
        entry: Option<&Entry>,
        c: &Conditions,
    ) -> Result<(), Refused> {
        if let Some(check) = c.authority {
            let current = self.list(list)?.controls.authority;
            if !check.compare.passes(&current, &check.value) {
                return Err(Reply::refused_with(
                    Reason::BadListAuth,
                    ReplyBody::Authority(current),
                )
                .into());
            }
        }
        if let (Some(check), Some(entry)) = (c.version, entry)
            && !check.compare.passes(&entry.version, &check.value)
        {
            let answer = self.answer(entry, false);
            return Err(
                Reply::refused_with(Reason::BadEntryVersion, ReplyBody::Entry(answer)).into(),
            );
        }
        Ok(())
    }

    /// Applies NEWAUTH and the version update after a successful operation.
    pub(crate) fn commit_conditions(
        &mut self,
        list: ListNumber,
        leid: Option<Leid>,
        c: &Conditions,
    ) {
        if let Some(new) = c.authority.and_then(|a| a.new)
            && let Some(l) = self
                .lists
                .get_mut(usize::try_from(list.0).unwrap_or(usize::MAX))
        {
            l.controls.authority = new;
        }
        if let Some(update) = c.version_update
            && let Some(entry) = leid.and_then(|l| self.entries.get_mut(&l))
        {
            entry.version = updated_version(entry.version, update);
        }
    }

    fn set_list_key(&mut self, list: ListNumber, key: Option<EntryKey>) {
        if let (Some(key), Some(l)) = (
            key,
            self.lists
                .get_mut(usize::try_from(list.0).unwrap_or(usize::MAX)),
        ) {
            l.controls.list_key = key;
        }
    }

    pub(crate) fn set_cursor(&mut self, list: ListNumber, cursor: Option<Leid>) {
        if let Some(l) = self
            .lists
            .get_mut(usize::try_from(list.0).unwrap_or(usize::MAX))
        {
            l.controls.cursor = cursor;
        }
    }

    /// An entry's answer, with data and adjunct when `with_data`.
    pub(crate) fn answer(&self, entry: &Entry, with_data: bool) -> EntryAnswer {
        EntryAnswer {
            controls: entry.controls(self.attrs.keyed()),
            data: with_data.then(|| entry.data.clone()),
            adjunct: if with_data {
                entry.adjunct.as_deref().map(Box::from)
            } else {
                None
            },
        }
    }

    fn answer_for(&self, leid: Leid, with_data: bool) -> Result<EntryAnswer, Reason> {
        self.entries
            .get(&leid)
            .map(|e| self.answer(e, with_data))
            .ok_or(Reason::NoEntry)
    }
}

fn updated_version(version: u64, update: VersionUpdate) -> u64 {
    match update {
        VersionUpdate::Set(v) => v,
        VersionUpdate::Increment => version.wrapping_add(1),
        VersionUpdate::Decrement => version.wrapping_sub(1),
    }
}
