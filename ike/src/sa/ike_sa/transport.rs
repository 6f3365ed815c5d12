//! Messages on the wire for one IKE SA: headers, SK payload protection, port-4500 framing,
//! requests with their retransmission state and cached responses.

use super::*;

impl IkeSa {
    /// Strips the non-ESP marker on port 4500; `None` for ESP and keepalives.
    pub(super) fn unframe(dst: SocketAddrV4, datagram: &[u8]) -> Result<Option<&[u8]>, SaError> {
        if dst.port() != NAT_T_PORT {
            return Ok(Some(datagram));
        }
        Ok(match classify_port_4500(datagram)? {
            Port4500::Ike(bytes) => Some(bytes),
            Port4500::Esp(_) | Port4500::Keepalive => None,
        })
    }

    pub(super) fn header(
        &self,
        exchange_type: ExchangeType,
        response: bool,
        message_id: u32,
    ) -> HeaderRepr {
        HeaderRepr {
            initiator_spi: self.spi_i,
            responder_spi: self.spi_r,
            minor_version: 0,
            exchange_type,
            flags: Flags::new(self.role == Role::Initiator, response),
            message_id,
        }
    }

    pub(super) fn plain_message(
        &self,
        exchange_type: ExchangeType,
        response: bool,
        message_id: u32,
        payloads: Vec<Payload>,
    ) -> Message {
        Message {
            header: self.header(exchange_type, response, message_id),
            payloads,
        }
    }

    /// An IKE message whose payloads travel inside an SK payload.
    pub(super) fn seal<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        exchange_type: ExchangeType,
        response: bool,
        message_id: u32,
        inner: &[Payload],
    ) -> Result<Vec<u8>, SaError> {
        let crypto = self.crypto()?;
        let mut plaintext = Vec::new();
        let first_inner = emit_chain(inner, &mut plaintext)?;
        let sealed_len = crypto.outbound.sealed_len(plaintext.len());
        let placeholder = Payload::Encrypted(EncryptedPayload {
            first_inner,
            data: vec![0; sealed_len],
        });
        let mut bytes = self
            .plain_message(exchange_type, response, message_id, vec![placeholder])
            .emit()?;
        let associated_len = bytes.len() - sealed_len;
        let sealed = crypto
            .outbound
            .seal(&bytes[..associated_len], &plaintext, rng)?;
        bytes.truncate(associated_len);
        bytes.extend_from_slice(&sealed);
        Ok(bytes)
    }

    /// Checks and decrypts the SK payload of a received message into its inner payloads.
    pub(super) fn open(&self, message: &Message, bytes: &[u8]) -> Result<Vec<Payload>, SaError> {
        let crypto = self.crypto()?;
        let sk = message
            .encrypted()
            .ok_or(SaError::Protocol("no SK payload"))?;
        let associated = bytes
            .get(..bytes.len() - sk.data.len())
            .ok_or(SaError::Protocol("SK payload outside the message"))?;
        let plaintext = crypto.inbound.open(associated, &sk.data)?;
        Ok(parse_chain(sk.first_inner, &plaintext, 0)?)
    }

    /// Sends a request and arms its retransmission timer.
    pub(super) fn send_request(&mut self, now: Instant, message_id: u32, message: Vec<u8>) {
        let datagram = self.frame(message);
        self.outstanding = Some(Outstanding {
            message_id,
            datagram: datagram.clone(),
            attempt: 0,
            deadline: now + self.config.retransmit.timeout(0),
        });
        self.transmit(datagram);
    }

    /// Sends a response and keeps it for retransmitted requests.
    pub(super) fn send_response(&mut self, message_id: u32, message: &[u8]) {
        let datagram = self.frame(message.to_vec());
        self.cached_response = Some((message_id, datagram.clone()));
        self.transmit(datagram);
    }

    pub(super) fn frame(&self, message: Vec<u8>) -> Vec<u8> {
        if self.local.port() == NAT_T_PORT {
            with_non_esp_marker(&message)
        } else {
            message
        }
    }

    pub(super) fn transmit(&mut self, bytes: Vec<u8>) {
        self.actions.push(Action::SendDatagram {
            from: self.local,
            to: self.remote,
            bytes,
        });
    }
}
