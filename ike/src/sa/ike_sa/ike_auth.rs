//! IKE_AUTH with a pre-shared key (RFC 7296 §1.2, §2.15): identities, AUTH payloads, the first
//! CHILD SA, INITIAL_CONTACT.

use super::*;

impl IkeSa {
    /// AUTH data for `signer`: prf(prf(PSK, "Key Pad for IKEv2"), first message | peer nonce |
    /// prf(SK_p, ID body)) (RFC 7296 §2.15).
    pub(super) fn psk_auth(
        &self,
        signer: Role,
        transcript: &SaInitTranscript,
        id: &Identity,
    ) -> Result<Vec<u8>, SaError> {
        let crypto = self.crypto()?;
        let (first_message, peer_nonce) = match signer {
            Role::Initiator => (&transcript.request, &transcript.nr),
            Role::Responder => (&transcript.response, &transcript.ni),
        };
        let octets = auth::signed_octets(
            crypto.suite.prf,
            crypto.keys.sk_p(signer).as_bytes(),
            first_message,
            peer_nonce,
            &id.payload_body(),
        );
        Ok(auth::psk_auth(
            crypto.suite.prf,
            self.config.psk.as_bytes(),
            &octets,
        ))
    }

    pub(super) fn verify_auth(
        &self,
        signer: Role,
        transcript: &SaInitTranscript,
        id: &Identity,
        auth: &AuthPayload,
    ) -> Result<bool, SaError> {
        if auth.method != AuthMethod::SHARED_KEY_MIC {
            return Ok(false);
        }
        let crypto = self.crypto()?;
        let (first_message, peer_nonce) = match signer {
            Role::Initiator => (&transcript.request, &transcript.nr),
            Role::Responder => (&transcript.response, &transcript.ni),
        };
        let octets = auth::signed_octets(
            crypto.suite.prf,
            crypto.keys.sk_p(signer).as_bytes(),
            first_message,
            peer_nonce,
            &id.payload_body(),
        );
        Ok(auth::verify_psk_auth(
            crypto.suite.prf,
            self.config.psk.as_bytes(),
            &octets,
            &auth.data,
        ))
    }

    pub(super) fn send_auth_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        transcript: SaInitTranscript,
    ) -> Result<(), SaError> {
        let spi = child_spi(rng);
        let id = self.config.local_id.clone();
        let mut payloads = vec![Payload::IdI(id.clone())];
        if self.config.initial_contact {
            payloads.push(notify(NotifyType::INITIAL_CONTACT, Vec::new()));
        }
        payloads.push(Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: self.psk_auth(Role::Initiator, &transcript, &id)?,
        }));
        let selectors = (self.config.local_ts, self.config.remote_ts);
        payloads.extend(self.child_request_payloads(spi, selectors, ChildDh::Ignored));
        let request = self.seal(rng, ExchangeType::IKE_AUTH, false, 1, &payloads)?;
        self.set_state(State::ExpectAuthResponse(ExpectAuthResponse {
            transcript,
            child_spi: spi,
        }));
        self.send_request(now, 1, request);
        Ok(())
    }

    pub(super) fn on_auth_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        id: u32,
        p: Payloads<'_>,
    ) -> Result<(), SaError> {
        let State::ExpectAuthRequest(state) = &self.state else {
            return Err(SaError::Protocol("not waiting for IKE_AUTH"));
        };
        let transcript = state.transcript.clone();
        let failure = match (p.id_i(), p.auth()) {
            (Some(peer), _) if *peer != self.config.remote_id => {
                Some(CloseReason::IdentityMismatch(peer.clone()))
            }
            (Some(peer), Some(auth))
                if self.verify_auth(Role::Initiator, &transcript, peer, auth)? =>
            {
                None
            }
            _ => Some(CloseReason::Notify(NotifyType::AUTHENTICATION_FAILED)),
        };
        if let Some(reason) = failure {
            // RFC 7296 §2.21.2: answer AUTHENTICATION_FAILED and keep nothing.
            let reply = vec![notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())];
            let response = self.seal(rng, ExchangeType::IKE_AUTH, true, id, &reply)?;
            self.send_response(id, &response);
            self.close(reason);
            return Ok(());
        }
        let own_id = self.config.local_id.clone();
        let mut reply = vec![
            Payload::IdR(own_id.clone()),
            Payload::Auth(AuthPayload {
                method: AuthMethod::SHARED_KEY_MIC,
                data: self.psk_auth(Role::Responder, &transcript, &own_id)?,
            }),
        ];
        let nonces = (transcript.ni.as_slice(), transcript.nr.as_slice());
        let child = self.accept_child(rng, &p, nonces, None, (ChildDh::Ignored, None))?;
        match &child {
            Ok((payloads, _)) => reply.extend(payloads.iter().cloned()),
            Err(error) => reply.push(notify(*error, Vec::new())),
        }
        let response = self.seal(rng, ExchangeType::IKE_AUTH, true, id, &reply)?;
        if p.notify(NotifyType::INITIAL_CONTACT).is_some() {
            self.actions.push(Action::InitialContact {
                local_id: self.config.local_id.clone(),
                remote_id: self.config.remote_id.clone(),
            });
        }
        self.establish(now);
        // The CHILD SA is in place before the response that lets the initiator use it leaves.
        if let Ok((_, install)) = child {
            self.install_child(now, install);
        }
        self.send_response(id, &response);
        Ok(())
    }

    pub(super) fn on_auth_response(
        &mut self,
        now: Instant,
        state: ExpectAuthResponse,
        p: Payloads<'_>,
    ) -> Result<(), SaError> {
        let transcript = state.transcript;
        let (Some(peer), Some(auth)) = (p.id_r(), p.auth()) else {
            let error = p
                .error_notify()
                .unwrap_or(NotifyType::AUTHENTICATION_FAILED);
            self.close(CloseReason::Notify(error));
            return Ok(());
        };
        if *peer != self.config.remote_id {
            self.close(CloseReason::IdentityMismatch(peer.clone()));
            return Ok(());
        }
        if !self.verify_auth(Role::Responder, &transcript, peer, auth)? {
            self.close(CloseReason::Notify(NotifyType::AUTHENTICATION_FAILED));
            return Ok(());
        }
        self.establish(now);
        let selectors = (self.config.local_ts, self.config.remote_ts);
        if let Some(child) = self.accepted_child(&p, state.child_spi, selectors, ChildDh::Ignored) {
            let nonces = (transcript.ni.as_slice(), transcript.nr.as_slice());
            let install = self.child_install(&child, Role::Initiator, nonces, None, None)?;
            self.install_child(now, install);
        }
        Ok(())
    }

    pub(super) fn establish(&mut self, now: Instant) {
        self.last_heard = now;
        self.ike_rekey_at = self.config.ike_rekey_time.map(|after| now + after);
        let Ok(crypto) = self.crypto() else { return };
        let summary = IkeSaSummary {
            role: self.role,
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            local: self.local,
            remote: self.remote,
            local_id: self.config.local_id.clone(),
            remote_id: self.config.remote_id.clone(),
            suite: crypto.suite,
            udp_encapsulation: self.udp_encapsulation,
        };
        self.actions.push(Action::IkeSaEstablished(summary));
        self.set_state(State::Established(Established));
    }
}
