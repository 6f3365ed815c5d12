//! Rekeying the IKE SA itself (RFC 7296 §2.18): CREATE_CHILD_SA with an IKE proposal, a fresh
//! Diffie-Hellman exchange, SKEYSEED = prf_old(SK_d old, g^ir new | Ni | Nr), new SPIs, message
//! IDs from zero. The CHILD SAs move to the new IKE SA; the rekey's initiator deletes the old one.

use std::mem;
use std::time::Instant;

use rand::{CryptoRng, RngCore};

use super::{IkeSa, Refusal, nonce, nonzero_u64, notify};
use crate::crypto::ids::DhGroup;
use crate::crypto::{DhPrivateKey, IkeSuite, Role, SecretBytes, rekey_skeyseed};
use crate::sa::action::{Action, CloseReason};
use crate::sa::error::SaError;
use crate::sa::payloads::{Payloads, nonce_ok};
use crate::sa::proposal::{accepted_ike, choose_ike, ike_proposal, offer};
use crate::sa::state::{Deleting, Established, ExpectIkeRekeyResponse, Rekeyed, State};
use crate::wire::{DeletePayload, ExchangeType, KePayload, NotifyType, Payload, SaPayload};

impl IkeSa {
    /// Rekeys the IKE SA. When the peer agrees, the new IKE SA comes out as
    /// [`Action::IkeSaRekeyed`] with the CHILD SAs, and this one is deleted.
    pub fn rekey_ike<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
    ) -> Result<(), SaError> {
        self.ready("IKE SA rekey")?;
        let current = self.crypto()?.suite;
        let dh = DhPrivateKey::generate(current.dh, rng)?;
        let nonce = nonce(rng);
        let spi = nonzero_u64(rng);
        // The suite in use first, then the other configured ones with the same DH group (the
        // KE payload can only be for one group).
        let mut suites = vec![current];
        suites.extend(
            self.config
                .ike_suites
                .iter()
                .filter(|s| **s != current && s.dh == current.dh),
        );
        let payloads = vec![
            Payload::Sa(offer(&suites, |n, s| {
                ike_proposal(n, s, spi.to_be_bytes().to_vec())
            })),
            Payload::Nonce(nonce.clone()),
            Payload::Ke(KePayload {
                dh_group: current.dh.0,
                data: dh.public_value().to_vec(),
            }),
        ];
        let id = self.next_request_id;
        let request = self.seal(rng, ExchangeType::CREATE_CHILD_SA, false, id, &payloads)?;
        self.set_state(State::ExpectIkeRekeyResponse(ExpectIkeRekeyResponse {
            dh,
            nonce,
            spi,
        }));
        self.send_request(now, id, request);
        Ok(())
    }

    pub(super) fn on_ike_rekey_response<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        p: Payloads<'_>,
    ) -> Result<(), SaError> {
        let State::ExpectIkeRekeyResponse(state) = &self.state else {
            return Err(SaError::Protocol("not waiting for an IKE SA rekey"));
        };
        let group = state.dh.group();
        let accepted = p.sa().and_then(|sa| {
            let suite = accepted_ike(sa, &self.config.ike_suites).filter(|s| s.dh == group)?;
            let spi_r = sa.proposals.first()?.ike_spi().filter(|spi| *spi != 0)?;
            let ke = p.ke().filter(|ke| ke.dh_group == group.0)?;
            let nr = p.nonce().filter(|n| nonce_ok(n))?;
            Some((suite, spi_r, ke, nr))
        });
        let Some((suite, spi_r, ke, nr)) = accepted else {
            // A refused rekey (TEMPORARY_FAILURE, NO_PROPOSAL_CHOSEN...) leaves the SA as it is;
            // a timed rekey tries again.
            if self.config.ike_rekey_time.is_some() {
                self.ike_rekey_at = Some(now + self.config.retransmit.first_timeout);
            }
            self.set_state(State::Established(Established));
            return Ok(());
        };
        let g_ir = state.dh.shared_secret(&ke.data)?;
        let (ni, spi_i) = (state.nonce.clone(), state.spi);
        let new = self.successor(
            now,
            Role::Initiator,
            (spi_i, spi_r),
            suite,
            &g_ir,
            (&ni, nr),
        )?;
        self.hand_over(new);
        let id = self.next_request_id;
        let delete = [Payload::Delete(DeletePayload::ike())];
        let request = self.seal(rng, ExchangeType::INFORMATIONAL, false, id, &delete)?;
        self.set_state(State::Deleting(Deleting {
            reason: CloseReason::Rekeyed,
        }));
        self.send_request(now, id, request);
        Ok(())
    }

    pub(super) fn on_ike_rekey_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        id: u32,
        p: Payloads<'_>,
    ) -> Result<(), SaError> {
        let outcome = self.accept_ike_rekey(now, rng, &p)?;
        let reply = match &outcome {
            Ok((payloads, _)) => payloads.clone(),
            Err((error, data)) => vec![notify(*error, data.clone())],
        };
        let response = self.seal(rng, ExchangeType::CREATE_CHILD_SA, true, id, &reply)?;
        self.send_response(id, &response);
        if let Ok((_, new)) = outcome {
            self.hand_over(new);
            self.set_state(State::Rekeyed(Rekeyed));
        }
        Ok(())
    }

    /// Responder side: the reply payloads and the new IKE SA, or the refusal.
    fn accept_ike_rekey<R: RngCore + CryptoRng>(
        &self,
        now: Instant,
        rng: &mut R,
        p: &Payloads<'_>,
    ) -> Result<Result<(Vec<Payload>, IkeSa), Refusal>, SaError> {
        let Some(sa) = p.sa() else {
            return Ok(Err((NotifyType::INVALID_SYNTAX, Vec::new())));
        };
        let (Some(ke), Some(ni)) = (p.ke(), p.nonce().filter(|n| nonce_ok(n))) else {
            return Ok(Err((NotifyType::INVALID_SYNTAX, Vec::new())));
        };
        let ours = &self.config.ike_suites;
        let Some((proposal, suite)) = choose_ike(sa, ours, DhGroup(ke.dh_group)) else {
            return Ok(Err((NotifyType::NO_PROPOSAL_CHOSEN, Vec::new())));
        };
        let Some(spi_i) = proposal.ike_spi().filter(|spi| *spi != 0) else {
            return Ok(Err((NotifyType::INVALID_SYNTAX, Vec::new())));
        };
        if ke.dh_group != suite.dh.0 {
            return Ok(Err((
                NotifyType::INVALID_KE_PAYLOAD,
                suite.dh.0.to_be_bytes().to_vec(),
            )));
        }
        let dh = DhPrivateKey::generate(suite.dh, rng)?;
        let Ok(g_ir) = dh.shared_secret(&ke.data) else {
            return Ok(Err((NotifyType::INVALID_SYNTAX, Vec::new())));
        };
        let nr = nonce(rng);
        let spi_r = nonzero_u64(rng);
        let new = self.successor(
            now,
            Role::Responder,
            (spi_i, spi_r),
            suite,
            &g_ir,
            (ni, &nr),
        )?;
        let payloads = vec![
            Payload::Sa(SaPayload {
                proposals: vec![ike_proposal(
                    proposal.number,
                    &suite,
                    spi_r.to_be_bytes().to_vec(),
                )],
            }),
            Payload::Nonce(nr),
            Payload::Ke(KePayload {
                dh_group: suite.dh.0,
                data: dh.public_value().to_vec(),
            }),
        ];
        Ok(Ok((payloads, new)))
    }

    /// The IKE SA that replaces this one: same peer, endpoints and configuration; new SPIs,
    /// roles from the rekey exchange, keys from the old SK_d and the new shared secret.
    fn successor(
        &self,
        now: Instant,
        role: Role,
        (spi_i, spi_r): (u64, u64),
        suite: IkeSuite,
        g_ir: &SecretBytes,
        (ni, nr): (&[u8], &[u8]),
    ) -> Result<IkeSa, SaError> {
        let old = self.crypto()?;
        let seed = rekey_skeyseed(
            old.suite.prf,
            old.keys.sk_d.as_bytes(),
            g_ir.as_bytes(),
            ni,
            nr,
        );
        let established = State::Established(Established);
        let mut new = IkeSa::new(
            self.config.clone(),
            role,
            spi_i,
            self.local,
            self.remote,
            established,
            now,
        );
        new.spi_r = spi_r;
        new.udp_encapsulation = self.udp_encapsulation;
        new.ike_rekey_at = self.config.ike_rekey_time.map(|after| now + after);
        new.install_keys_from_seed(suite, &seed, ni, nr)?;
        Ok(new)
    }

    /// Moves the CHILD SAs to the new IKE SA and hands it to the caller.
    fn hand_over(&mut self, mut new: IkeSa) {
        new.children = mem::take(&mut self.children);
        new.child_rekey_at = mem::take(&mut self.child_rekey_at);
        tracing::info!(
            old_spi_i = format_args!("{:016x}", self.spi_i),
            new_spi_i = format_args!("{:016x}", new.spi_i),
            new_spi_r = format_args!("{:016x}", new.spi_r),
            "IKE SA rekeyed"
        );
        let old_spis = self.spis();
        self.actions.push(Action::IkeSaRekeyed {
            old_spis,
            new: Box::new(new),
        });
    }
}
