//! IKE_SA_INIT (RFC 7296 §1.2): proposals, Diffie-Hellman, nonces, NAT detection, cookies and
//! INVALID_KE_PAYLOAD retries, and the SK_* keys that come out of it.

use super::*;

impl IkeSa {
    pub(super) fn answer_sa_init<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        request: &Message,
        request_bytes: &[u8],
        src: SocketAddrV4,
        dst: SocketAddrV4,
    ) -> Result<(), SaError> {
        let p = Payloads(&request.payloads);
        let (Some(sa), Some(ke), Some(ni)) = (p.sa(), p.ke(), p.nonce()) else {
            return self.refuse_sa_init(NotifyType::INVALID_SYNTAX, Vec::new());
        };
        if !nonce_ok(ni) {
            return self.refuse_sa_init(NotifyType::INVALID_SYNTAX, Vec::new());
        }
        let Some((proposal, suite)) = choose_ike(sa, &self.config.ike_suites, DhGroup(ke.dh_group))
        else {
            return self.refuse_sa_init(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
        };
        if ke.dh_group != suite.dh.0 {
            // RFC 7296 §1.3: tell the initiator which group we want.
            return self.refuse_sa_init(
                NotifyType::INVALID_KE_PAYLOAD,
                suite.dh.0.to_be_bytes().to_vec(),
            );
        }
        let dh = DhPrivateKey::generate(suite.dh, rng)?;
        let Ok(g_ir) = dh.shared_secret(&ke.data) else {
            return self.refuse_sa_init(NotifyType::INVALID_SYNTAX, Vec::new());
        };
        let nr = nonce(rng);
        self.install_ike_keys(suite, g_ir.as_bytes(), ni, &nr)?;
        let mut natd_source = natd_hash(self.spi_i, self.spi_r, dst);
        if self.config.force_udp_encapsulation {
            rng.fill_bytes(&mut natd_source);
        }
        let payloads = vec![
            Payload::Sa(crate::wire::SaPayload {
                proposals: vec![ike_proposal(proposal.number, &suite, Vec::new())],
            }),
            Payload::Ke(KePayload {
                dh_group: suite.dh.0,
                data: dh.public_value().to_vec(),
            }),
            Payload::Nonce(nr.clone()),
            notify(NotifyType::NAT_DETECTION_SOURCE_IP, natd_source),
            notify(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                natd_hash(self.spi_i, self.spi_r, src),
            ),
        ];
        let response = self
            .plain_message(ExchangeType::IKE_SA_INIT, true, 0, payloads)
            .emit()?;
        self.send_response(0, &response);
        let transcript = SaInitTranscript {
            ni: ni.clone(),
            nr,
            request: request_bytes.to_vec(),
            response,
        };
        self.last_heard = now;
        self.set_state(State::ExpectAuthRequest(ExpectAuthRequest { transcript }));
        Ok(())
    }

    /// Sends an IKE_SA_INIT error response and closes (RFC 7296 §2.21.1: nothing is kept).
    pub(super) fn refuse_sa_init(
        &mut self,
        notify_type: NotifyType,
        data: Vec<u8>,
    ) -> Result<(), SaError> {
        let mut message = self.plain_message(
            ExchangeType::IKE_SA_INIT,
            true,
            0,
            vec![notify(notify_type, data)],
        );
        message.header.responder_spi = 0;
        let response = message.emit()?;
        self.send_response(0, &response);
        self.close(CloseReason::Notify(notify_type));
        Ok(())
    }

    pub(super) fn send_sa_init_request(
        &mut self,
        now: Instant,
        mut state: ExpectSaInitResponse,
    ) -> Result<(), SaError> {
        let message =
            self.plain_message(ExchangeType::IKE_SA_INIT, false, 0, state.payloads.clone());
        state.request = message.emit()?;
        let datagram = state.request.clone();
        self.set_state(State::ExpectSaInitResponse(state));
        self.send_request(now, 0, datagram);
        Ok(())
    }

    /// Sends the IKE_SA_INIT request again after `edit` changed its payloads (a cookie, another
    /// DH group), as a fresh request with its own retransmission timer.
    pub(super) fn retry_sa_init(
        &mut self,
        now: Instant,
        edit: impl FnOnce(&mut ExpectSaInitResponse) -> Result<(), SaError>,
    ) -> Result<(), SaError> {
        let header = self.header(ExchangeType::IKE_SA_INIT, false, 0);
        let State::ExpectSaInitResponse(state) = &mut self.state else {
            return Err(SaError::Protocol("not waiting for IKE_SA_INIT"));
        };
        edit(state)?;
        state.request = Message {
            header,
            payloads: state.payloads.clone(),
        }
        .emit()?;
        let datagram = state.request.clone();
        tracing::info!(
            spi_i = format_args!("{:016x}", self.spi_i),
            "IKE_SA_INIT retried"
        );
        self.send_request(now, 0, datagram);
        Ok(())
    }

    /// The DH group an INVALID_KE_PAYLOAD asks for, if we offered it and are not using it.
    pub(super) fn wanted_group(&self, p: &Payloads<'_>, current: DhGroup) -> Option<DhGroup> {
        let data = &p.notify(NotifyType::INVALID_KE_PAYLOAD)?.data;
        let group = DhGroup(u16::from_be_bytes(
            <[u8; 2]>::try_from(data.as_slice()).ok()?,
        ));
        (group != current && self.config.ike_suites.iter().any(|s| s.dh == group)).then_some(group)
    }

    pub(super) fn on_sa_init_response<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        message: &Message,
        bytes: &[u8],
        src: SocketAddrV4,
        dst: SocketAddrV4,
    ) -> Result<(), SaError> {
        let p = Payloads(&message.payloads);
        if let Some(cookie) = p.notify(NotifyType::COOKIE) {
            // RFC 7296 §2.6: retry with the cookie as the first payload.
            let cookie = notify(NotifyType::COOKIE, cookie.data.clone());
            return self.retry_sa_init(now, |state| {
                state.payloads.retain(
                    |p| !matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::COOKIE),
                );
                state.payloads.insert(0, cookie);
                Ok(())
            });
        }
        let State::ExpectSaInitResponse(state) = &self.state else {
            return Err(SaError::Protocol("not waiting for IKE_SA_INIT"));
        };
        let group = state.dh.group();
        if let Some(wanted) = self.wanted_group(&p, group) {
            // RFC 7296 §1.3: retry with the group the responder asked for.
            let dh = DhPrivateKey::generate(wanted, rng)?;
            return self.retry_sa_init(now, |state| {
                let ke = KePayload {
                    dh_group: wanted.0,
                    data: dh.public_value().to_vec(),
                };
                for payload in &mut state.payloads {
                    if let Payload::Ke(old) = payload {
                        *old = ke.clone();
                    }
                }
                state.dh = dh;
                Ok(())
            });
        }
        if let Some(error) = p.error_notify() {
            self.close(CloseReason::Notify(error));
            return Ok(());
        }
        let (Some(sa), Some(ke), Some(nr)) = (p.sa(), p.ke(), p.nonce()) else {
            self.close(CloseReason::Notify(NotifyType::INVALID_SYNTAX));
            return Ok(());
        };
        let suite = accepted_ike(sa, &self.config.ike_suites).filter(|s| s.dh == group);
        let (Some(suite), true, true) = (suite, ke.dh_group == group.0, nonce_ok(nr)) else {
            self.close(CloseReason::Notify(NotifyType::NO_PROPOSAL_CHOSEN));
            return Ok(());
        };
        let g_ir = state.dh.shared_secret(&ke.data)?;
        let transcript = SaInitTranscript {
            ni: state.ni.clone(),
            nr: nr.clone(),
            request: state.request.clone(),
            response: bytes.to_vec(),
        };
        self.spi_r = message.header.responder_spi;
        self.outstanding = None;
        self.next_request_id = 1;
        self.last_heard = now;
        self.install_ike_keys(suite, g_ir.as_bytes(), &transcript.ni, nr)?;
        if self.nat_detected(&p, src, dst) || self.config.force_udp_encapsulation {
            // RFC 7296 §2.23: continue on 4500, from there on with the non-ESP marker.
            self.local.set_port(NAT_T_PORT);
            self.remote.set_port(NAT_T_PORT);
            self.udp_encapsulation = true;
        }
        self.send_auth_request(now, rng, transcript)
    }

    /// Whether either NAT detection hash differs from what the addresses give.
    pub(super) fn nat_detected(
        &self,
        p: &Payloads<'_>,
        src: SocketAddrV4,
        dst: SocketAddrV4,
    ) -> bool {
        let differs = |t: NotifyType, addr| {
            p.notify(t)
                .is_some_and(|n| n.data != natd_hash(self.spi_i, self.spi_r, addr))
        };
        differs(NotifyType::NAT_DETECTION_SOURCE_IP, src)
            || differs(NotifyType::NAT_DETECTION_DESTINATION_IP, dst)
    }

    pub(super) fn install_ike_keys(
        &mut self,
        suite: IkeSuite,
        g_ir: &[u8],
        ni: &[u8],
        nr: &[u8],
    ) -> Result<(), SaError> {
        self.install_keys_from_seed(suite, &skeyseed(suite.prf, ni, nr, g_ir), ni, nr)
    }

    /// Derives SK_* from SKEYSEED with our SPIs and keys the SK payload ciphers.
    pub(super) fn install_keys_from_seed(
        &mut self,
        suite: IkeSuite,
        seed: &SecretBytes,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<(), SaError> {
        let keys = IkeSaKeys::derive(&suite, seed, ni, nr, self.spi_i, self.spi_r)?;
        let (outbound, inbound) = keys.ciphers(&suite, self.role)?;
        self.crypto = Some(SaCrypto {
            suite,
            keys,
            outbound,
            inbound,
        });
        Ok(())
    }
}
