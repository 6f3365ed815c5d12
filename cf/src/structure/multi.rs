//! Multi-entry requests (IXLLSTM READ_LIST, DELETE_LIST): entries of one list in order, ending
//! early at the request's limit with a restart token that resumes where it stopped.

use std::ops::Bound;

use super::codes::Reason;
use super::ids::Leid;
use super::instance::ListStructure;
use super::list::{Position, RestartToken};
use super::ops::Refused;
use super::reply::{EntryBatch, Reply, ReplyBody};
use super::request::MultiEntry;

impl ListStructure {
    /// READ_LIST (`delete` false) or DELETE_LIST (`delete` true).
    pub(crate) fn multi(&mut self, m: &MultiEntry, delete: bool) -> Result<Reply, Refused> {
        let list = self.list(m.list)?;
        if m.limit == 0 || m.restart.is_some_and(|r| r.list != m.list) {
            return Err(Reason::BadParmList.into());
        }
        if m.keys.is_some() && !self.attrs.keyed() {
            return Err(Reason::NotSupported.into());
        }
        if m.keys.is_some_and(|(lo, hi)| lo > hi) {
            return Err(Reason::BadParmList.into());
        }
        let lower = match (m.restart, m.keys) {
            (Some(r), Some((lo, _))) => r.from.max(Position {
                key: lo,
                order: i64::MIN,
            }),
            (Some(r), None) => r.from,
            (None, Some((lo, _))) => Position {
                key: lo,
                order: i64::MIN,
            },
            (None, None) => Position {
                key: Default::default(),
                order: i64::MIN,
            },
        };
        let upper = match m.keys {
            Some((_, hi)) => Bound::Included(Position {
                key: hi,
                order: i64::MAX,
            }),
            None => Bound::Unbounded,
        };
        let limit = usize::try_from(m.limit).unwrap_or(usize::MAX);
        let mut chosen: Vec<Leid> = Vec::new();
        let mut restart = None;
        let past_upper = matches!(upper, Bound::Included(hi) if lower > hi);
        let candidates = if past_upper {
            None
        } else {
            Some(list.order.range((Bound::Included(lower), upper)))
        };
        for (position, leid) in candidates.into_iter().flatten() {
            if chosen.len() == limit {
                restart = Some(RestartToken {
                    list: m.list,
                    from: *position,
                });
                break;
            }
            let passes = self.entries.get(leid).is_some_and(|e| {
                m.version
                    .is_none_or(|v| v.compare.passes(&e.version, &v.value))
            });
            if passes {
                chosen.push(*leid);
            }
        }
        let mut entries = Vec::with_capacity(chosen.len());
        for leid in chosen {
            if let Some(entry) = self.entries.get(&leid) {
                entries.push(self.answer(entry, !delete));
            }
            if delete {
                self.remove(leid);
            }
        }
        let body = ReplyBody::Entries(EntryBatch { entries, restart });
        Ok(match restart {
            None => Reply::ok(body),
            Some(_) if delete => Reply::warning(Reason::Timeout, body),
            Some(_) => Reply::warning(Reason::BufferFull, body),
        })
    }
}
