//! The states of an IKE SA, one struct each, named for what the SA waits for.

use std::fmt;

use super::action::CloseReason;
use crate::crypto::DhPrivateKey;
use crate::wire::{Ipv4Range, Payload};

/// Just created, before the first message is sent or answered.
#[derive(Debug)]
pub(crate) struct New;

/// Initiator: IKE_SA_INIT request sent.
#[derive(Debug)]
pub(crate) struct ExpectSaInitResponse {
    /// Our DH private value.
    pub dh: DhPrivateKey,
    /// Our nonce Ni.
    pub ni: Vec<u8>,
    /// The request's payloads, to resend with a COOKIE in front (RFC 7296 §2.6).
    pub payloads: Vec<Payload>,
    /// The request as last sent, which our AUTH covers.
    pub request: Vec<u8>,
}

/// Both nonces and both raw IKE_SA_INIT messages, which the AUTH payloads cover.
#[derive(Debug, Clone)]
pub(crate) struct SaInitTranscript {
    /// The initiator's nonce.
    pub ni: Vec<u8>,
    /// The responder's nonce.
    pub nr: Vec<u8>,
    /// The IKE_SA_INIT request as sent (no non-ESP marker).
    pub request: Vec<u8>,
    /// The IKE_SA_INIT response as sent.
    pub response: Vec<u8>,
}

/// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH.
#[derive(Debug)]
pub(crate) struct ExpectAuthRequest {
    pub transcript: SaInitTranscript,
}

/// Initiator: IKE_AUTH request sent.
#[derive(Debug, Clone)]
pub(crate) struct ExpectAuthResponse {
    pub transcript: SaInitTranscript,
    /// Our inbound SPI for the first CHILD SA.
    pub child_spi: u32,
}

/// Authenticated; no request of ours outstanding.
#[derive(Debug)]
pub(crate) struct Established;

/// CREATE_CHILD_SA request sent, for a new CHILD SA or the rekey of one.
#[derive(Debug)]
pub(crate) struct ExpectChildResponse {
    /// Our nonce.
    pub nonce: Vec<u8>,
    /// Our side of the PFS key exchange, if the request carried a KE payload.
    pub dh: Option<DhPrivateKey>,
    /// Our inbound SPI for the new CHILD SA.
    pub child_spi: u32,
    /// The inbound SPI of the CHILD SA being rekeyed, if any.
    pub replaces: Option<u32>,
    /// The selectors proposed (ours, the peer's): the accepted ones must lie within them.
    pub selectors: (Ipv4Range, Ipv4Range),
}

/// INFORMATIONAL request sent: a liveness check, or the delete of CHILD SAs.
#[derive(Debug)]
pub(crate) struct ExpectInformationalResponse {
    /// Inbound SPIs of the CHILD SAs the request deletes (empty for a liveness check).
    pub deleting: Vec<u32>,
}

/// Our delete of the IKE SA sent.
#[derive(Debug)]
pub(crate) struct Deleting {
    /// Why we delete it (locally, or because a rekey replaced it).
    pub reason: CloseReason,
}

/// CREATE_CHILD_SA request to rekey the IKE SA sent (RFC 7296 §2.18).
#[derive(Debug)]
pub(crate) struct ExpectIkeRekeyResponse {
    /// Our DH private value for the new IKE SA.
    pub dh: DhPrivateKey,
    /// Our nonce.
    pub nonce: Vec<u8>,
    /// Our SPI in the new IKE SA.
    pub spi: u64,
}

/// Replaced by a rekey the peer started; waits for the peer to delete it.
#[derive(Debug)]
pub(crate) struct Rekeyed;

/// Gone; nothing more is sent or accepted.
#[derive(Debug)]
pub(crate) struct Closed {
    pub reason: CloseReason,
}

/// The state of an IKE SA.
#[derive(Debug)]
pub(crate) enum State {
    New(New),
    ExpectSaInitResponse(ExpectSaInitResponse),
    ExpectAuthRequest(ExpectAuthRequest),
    ExpectAuthResponse(ExpectAuthResponse),
    Established(Established),
    ExpectChildResponse(ExpectChildResponse),
    ExpectInformationalResponse(ExpectInformationalResponse),
    ExpectIkeRekeyResponse(ExpectIkeRekeyResponse),
    Deleting(Deleting),
    Rekeyed(Rekeyed),
    Closed(Closed),
}

impl State {
    /// Whether the SA is authenticated and not being torn down.
    pub(crate) fn is_established(&self) -> bool {
        matches!(
            self,
            Self::Established(_)
                | Self::ExpectChildResponse(_)
                | Self::ExpectInformationalResponse(_)
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::New(_) => "NEW",
            Self::ExpectSaInitResponse(_) => "SA_INIT_SENT",
            Self::ExpectAuthRequest(_) => "SA_INIT_DONE",
            Self::ExpectAuthResponse(_) => "AUTH_SENT",
            Self::Established(_) => "ESTABLISHED",
            Self::ExpectChildResponse(_) => "CHILD_SA_PENDING",
            Self::ExpectInformationalResponse(_) => "INFORMATIONAL_PENDING",
            Self::ExpectIkeRekeyResponse(_) => "IKE_REKEY_PENDING",
            Self::Deleting(_) => "DELETING",
            Self::Rekeyed(_) => "REKEYED",
            Self::Closed(_) => "CLOSED",
        })
    }
}
