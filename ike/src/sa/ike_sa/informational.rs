//! INFORMATIONAL exchanges (RFC 7296 §1.4): deletes of CHILD SAs and of the IKE SA, liveness
//! checks.

use super::*;

impl IkeSa {
    pub(super) fn on_informational_request<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: u32,
        p: Payloads<'_>,
    ) -> Result<(), SaError> {
        let mut reply = Vec::new();
        let mut delete_ike = false;
        for delete in p.deletes() {
            match delete.protocol {
                ProtocolId::IKE => delete_ike = true,
                ProtocolId::ESP | ProtocolId::AH => {
                    // The SPIs are the peer's inbound ones, our outbound; answer with ours.
                    let ours: Vec<u32> = delete
                        .child_spis()
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|out| self.children.iter().find(|c| c.outbound_spi == *out))
                        .map(|c| c.inbound_spi)
                        .collect();
                    if !ours.is_empty() {
                        reply.push(Payload::Delete(DeletePayload::child(
                            delete.protocol,
                            &ours,
                        )));
                    }
                    for spi in ours {
                        self.remove_child(spi);
                    }
                }
                _ => {}
            }
        }
        let response = self.seal(
            rng,
            ExchangeType::INFORMATIONAL,
            true,
            id,
            if delete_ike { &[] } else { &reply },
        )?;
        self.send_response(id, &response);
        if delete_ike {
            let rekeyed = matches!(self.state, State::Rekeyed(_));
            self.close(if rekeyed {
                CloseReason::Rekeyed
            } else {
                CloseReason::DeletedByPeer
            });
        }
        Ok(())
    }

    /// Sends an empty INFORMATIONAL request to check that the peer is alive (RFC 7296 §2.4).
    pub fn check_liveness<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
    ) -> Result<(), SaError> {
        self.ready("liveness check")?;
        self.informational_request(now, rng, Vec::new(), Vec::new())
    }

    /// Deletes one CHILD SA, named by its inbound SPI.
    pub fn delete_child<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        inbound_spi: u32,
    ) -> Result<(), SaError> {
        self.ready("CHILD SA delete")?;
        if !self.children.iter().any(|c| c.inbound_spi == inbound_spi) {
            return Err(SaError::UnknownChildSa(inbound_spi));
        }
        let payloads = vec![Payload::Delete(DeletePayload::child(
            ProtocolId::ESP,
            &[inbound_spi],
        ))];
        self.informational_request(now, rng, payloads, vec![inbound_spi])
    }

    pub(super) fn informational_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        payloads: Vec<Payload>,
        deleting: Vec<u32>,
    ) -> Result<(), SaError> {
        let id = self.next_request_id;
        let request = self.seal(rng, ExchangeType::INFORMATIONAL, false, id, &payloads)?;
        self.set_state(State::ExpectInformationalResponse(
            ExpectInformationalResponse { deleting },
        ));
        self.send_request(now, id, request);
        Ok(())
    }

    /// Deletes the IKE SA and all its CHILD SAs (INFORMATIONAL with D(IKE)).
    pub fn delete<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
    ) -> Result<(), SaError> {
        self.ready("IKE SA delete")?;
        let id = self.next_request_id;
        let request = self.delete_ike_request(rng, id)?;
        self.set_state(State::Deleting(Deleting {
            reason: CloseReason::DeletedLocally,
        }));
        self.send_request(now, id, request);
        Ok(())
    }

    /// The INFORMATIONAL request `id` with D(IKE), sealed.
    fn delete_ike_request<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        id: u32,
    ) -> Result<Vec<u8>, SaError> {
        self.seal(
            rng,
            ExchangeType::INFORMATIONAL,
            false,
            id,
            &[Payload::Delete(DeletePayload::ike())],
        )
    }

    /// Drops the IKE SA at once, as when its local address leaves this stack: its CHILD SAs
    /// are deleted and it closes as deleted locally. With `notify_peer` an INFORMATIONAL
    /// request with D(IKE) goes to the peer first, once, without waiting for the answer; it is
    /// only sent from an established SA with no request of ours outstanding (the peer accepts
    /// one request at a time), otherwise the SA goes silently.
    pub fn drop_locally<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        notify_peer: bool,
    ) -> Result<(), SaError> {
        if matches!(self.state, State::Closed(_)) {
            return Ok(());
        }
        if notify_peer && self.is_idle() {
            let request = self.delete_ike_request(rng, self.next_request_id)?;
            let datagram = self.frame(request);
            self.transmit(datagram);
        }
        self.close(CloseReason::DeletedLocally);
        Ok(())
    }
}
