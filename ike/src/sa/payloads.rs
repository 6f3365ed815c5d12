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

    /// The first TSi selector narrowed to `ts_i_policy` and the first TSr selector narrowed to
    /// `ts_r_policy`, among those that overlap them.
    pub(crate) fn narrowed_selectors(
        &self,
        ts_i_policy: &Ipv4Range,
        ts_r_policy: &Ipv4Range,
    ) -> Option<(Ipv4Range, Ipv4Range)> {
        let ts_i = self
            .ts_i()?
            .ipv4()
            .find_map(|ts| ts.intersect(ts_i_policy))?;
        let ts_r = self
            .ts_r()?
            .ipv4()
            .find_map(|ts| ts.intersect(ts_r_policy))?;
        Some((ts_i, ts_r))
    }
}

/// A nonce has between 16 and 256 octets (RFC 7296 §3.9).
pub(crate) fn nonce_ok(nonce: &[u8]) -> bool {
    (16..=256).contains(&nonce.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::TrafficSelector;

    fn range(a: [u8; 4], b: [u8; 4]) -> Ipv4Range {
        Ipv4Range {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: a.into(),
            end_addr: b.into(),
        }
    }

    fn ts(ranges: &[Ipv4Range]) -> TsPayload {
        TsPayload {
            selectors: ranges.iter().copied().map(TrafficSelector::Ipv4).collect(),
        }
    }

    #[test]
    fn narrows_the_first_overlapping_selector_of_each_side() {
        let packet = range([198, 51, 100, 7], [198, 51, 100, 7]);
        let subnet = range([192, 0, 2, 0], [192, 0, 2, 255]);
        let payloads = [
            Payload::TsI(ts(&[packet, subnet])),
            Payload::TsR(ts(&[range([0, 0, 0, 0], [255, 255, 255, 255])])),
        ];
        let policy_i = range([192, 0, 2, 16], [192, 0, 2, 31]);
        let policy_r = range([203, 0, 113, 0], [203, 0, 113, 255]);
        assert_eq!(
            Payloads(&payloads).narrowed_selectors(&policy_i, &policy_r),
            Some((policy_i, policy_r))
        );
        let elsewhere = range([10, 0, 0, 0], [10, 0, 0, 255]);
        assert_eq!(
            Payloads(&payloads).narrowed_selectors(&elsewhere, &policy_r),
            None
        );
    }

    #[test]
    fn nonce_length_is_16_to_256() {
        assert!(!nonce_ok(&[0; 15]));
        assert!(nonce_ok(&[0; 16]) && nonce_ok(&[0; 256]));
        assert!(!nonce_ok(&[0; 257]));
    }
}
