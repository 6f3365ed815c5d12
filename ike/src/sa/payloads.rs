//! Looking up payloads in a received (or decrypted) payload list.

use crate::wire::{
    AuthPayload, DeletePayload, Identity, Ipv4Range, KePayload, NotifyPayload, NotifyType, Payload,
    SaPayload, TsPayload,
};

/// Accessors over the payloads of one message, by type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Payloads<'a>(pub &'a [Payload]);

macro_rules! first_of {
    ($name:ident, $variant:ident, $ty:ty) => {
        pub(crate) fn $name(&self) -> Option<&'a $ty> {
            self.0.iter().find_map(|p| match p {
                Payload::$variant(x) => Some(x),
                _ => None,
            })
        }
    };
}

impl<'a> Payloads<'a> {
    first_of!(sa, Sa, SaPayload);
    first_of!(ke, Ke, KePayload);
    first_of!(nonce, Nonce, Vec<u8>);
    first_of!(id_i, IdI, Identity);
    first_of!(id_r, IdR, Identity);
    first_of!(auth, Auth, AuthPayload);
    first_of!(ts_i, TsI, TsPayload);
    first_of!(ts_r, TsR, TsPayload);

    /// The notifies, in order.
    pub(crate) fn notifies(&self) -> impl Iterator<Item = &'a NotifyPayload> {
        self.0.iter().filter_map(|p| match p {
            Payload::Notify(n) => Some(n),
            _ => None,
        })
    }

    /// The first notify of a type.
    pub(crate) fn notify(&self, notify_type: NotifyType) -> Option<&'a NotifyPayload> {
        self.notifies().find(|n| n.notify_type == notify_type)
    }

    /// The first error notify, if any.
    pub(crate) fn error_notify(&self) -> Option<NotifyType> {
        self.notifies()
            .map(|n| n.notify_type)
            .find(|t| t.is_error())
    }

    /// The Delete payloads.
    pub(crate) fn deletes(&self) -> impl Iterator<Item = &'a DeletePayload> {
        self.0.iter().filter_map(|p| match p {
            Payload::Delete(d) => Some(d),
            _ => None,
        })
    }

    /// The first IPv4 selectors of TSi and TSr.
    pub(crate) fn selectors(&self) -> Option<(Ipv4Range, Ipv4Range)> {
        Some((*self.ts_i()?.ipv4().next()?, *self.ts_r()?.ipv4().next()?))
    }
}

/// A nonce has between 16 and 256 octets (RFC 7296 §3.9).
pub(crate) fn nonce_ok(nonce: &[u8]) -> bool {
    (16..=256).contains(&nonce.len())
}
