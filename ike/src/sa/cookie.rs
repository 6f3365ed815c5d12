//! Stateless cookies for a responder under load (RFC 7296 §2.6).
//!
//! Cookie = VersionIDofSecret | SHA-256(Ni | IPi | SPIi | secret). The caller decides when it is
//! "under load" (e.g. too many half-open SAs) and then checks every IKE_SA_INIT request before
//! creating any state for it.

use std::net::SocketAddrV4;

use rand::{CryptoRng, RngCore};
use ring::digest::{SHA256, digest};

use super::payloads::Payloads;
use crate::wire::{ExchangeType, Flags, HeaderRepr, Message, NotifyPayload, NotifyType, Payload};

/// What to do with an IKE_SA_INIT request when cookies are required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieCheck {
    /// The request carries a valid cookie: go on and create the SA.
    Valid,
    /// Send this IKE_SA_INIT response (N(COOKIE) only) and keep no state.
    Challenge(Vec<u8>),
}

/// The responder's cookie secrets: the current one and the one before the last rotation.
#[derive(Debug, Clone)]
pub struct CookieJar {
    version: u8,
    secret: [u8; 32],
    previous: Option<[u8; 32]>,
}

impl CookieJar {
    /// A jar with a fresh secret.
    pub fn new<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut secret = [0; 32];
        rng.fill_bytes(&mut secret);
        Self {
            version: 0,
            secret,
            previous: None,
        }
    }

    /// Replaces the secret; cookies made with the previous one stay valid until the next
    /// rotation.
    pub fn rotate<R: RngCore + CryptoRng>(&mut self, rng: &mut R) {
        self.previous = Some(self.secret);
        rng.fill_bytes(&mut self.secret);
        self.version = self.version.wrapping_add(1);
    }

    fn cookie(
        version: u8,
        secret: &[u8; 32],
        ni: &[u8],
        from: SocketAddrV4,
        spi_i: u64,
    ) -> Vec<u8> {
        let input = [ni, &from.ip().octets(), &spi_i.to_be_bytes(), secret].concat();
        let mut cookie = vec![version];
        cookie.extend_from_slice(digest(&SHA256, &input).as_ref());
        cookie
    }

    fn is_valid(&self, cookie: &[u8], ni: &[u8], from: SocketAddrV4, spi_i: u64) -> bool {
        let current = Self::cookie(self.version, &self.secret, ni, from, spi_i);
        let previous = self
            .previous
            .map(|s| Self::cookie(self.version.wrapping_sub(1), &s, ni, from, spi_i));
        cookie == current.as_slice() || previous.as_deref() == Some(cookie)
    }

    /// Checks an IKE_SA_INIT request from `from`: valid when its first payload is N(COOKIE)
    /// with the cookie we would have given it.
    pub fn check(&self, request: &Message, from: SocketAddrV4) -> CookieCheck {
        let payloads = Payloads(&request.payloads);
        let ni = payloads.nonce().map_or(&[][..], Vec::as_slice);
        let spi_i = request.header.initiator_spi;
        if let Some(Payload::Notify(n)) = request.payloads.first()
            && n.notify_type == NotifyType::COOKIE
            && self.is_valid(&n.data, ni, from, spi_i)
        {
            return CookieCheck::Valid;
        }
        let cookie = Self::cookie(self.version, &self.secret, ni, from, spi_i);
        let response = Message {
            header: HeaderRepr {
                initiator_spi: spi_i,
                responder_spi: 0,
                minor_version: 0,
                exchange_type: ExchangeType::IKE_SA_INIT,
                flags: Flags::new(false, true),
                message_id: 0,
            },
            payloads: vec![Payload::Notify(NotifyPayload::new(
                NotifyType::COOKIE,
                cookie,
            ))],
        };
        // A one-notify message always fits its length fields.
        CookieCheck::Challenge(response.emit().unwrap_or_default())
    }
}
