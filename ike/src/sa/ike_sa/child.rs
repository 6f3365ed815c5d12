//! CHILD SAs (RFC 7296 §1.3, §2.9, §2.17): proposing and accepting them in IKE_AUTH and
//! CREATE_CHILD_SA, selector narrowing, KEYMAT, rekeying.

use super::*;

impl IkeSa {
    /// The payloads that propose a CHILD SA: [USE_TRANSPORT_MODE], ESP_TFC_PADDING_NOT_SUPPORTED,
    /// SA, TSi, TSr (ours as initiator of the exchange), the SA proposing the DH group of `dh`.
    pub(super) fn child_request_payloads(
        &self,
        spi: u32,
        (local_ts, remote_ts): (Ipv4Range, Ipv4Range),
        dh: ChildDh,
    ) -> Vec<Payload> {
        let mut payloads = Vec::new();
        if self.config.mode == Mode::Transport {
            payloads.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        payloads.push(notify(
            NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED,
            Vec::new(),
        ));
        payloads.push(Payload::Sa(offer(&self.config.esp_suites, |n, s| {
            esp_proposal(n, s, spi, dh)
        })));
        payloads.push(Payload::TsI(ts(local_ts)));
        payloads.push(Payload::TsR(ts(remote_ts)));
        payloads
    }

    /// Responder side of a CHILD SA proposal (IKE_AUTH or CREATE_CHILD_SA): the payloads to
    /// answer with and the SA to install, or the error notify to answer with. `dh` is the
    /// exchange's DH group and `g_ir` the secret of its key exchange, if it had one (PFS).
    pub(super) fn accept_child<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        p: &Payloads<'_>,
        (ni, nr): (&[u8], &[u8]),
        replaces: Option<u32>,
        (dh, g_ir): (ChildDh, Option<&[u8]>),
    ) -> Result<Result<(Vec<Payload>, ChildSaInstall), NotifyType>, SaError> {
        let Some(sa) = p.sa() else {
            return Ok(Err(NotifyType::INVALID_SYNTAX));
        };
        let Some((proposal, suite)) = choose_esp(sa, &self.config.esp_suites, dh) else {
            return Ok(Err(NotifyType::NO_PROPOSAL_CHOSEN));
        };
        let Some(outbound_spi) = proposal.child_spi() else {
            return Ok(Err(NotifyType::INVALID_SYNTAX));
        };
        // The peer is the initiator of this exchange: its TSi is the remote side for us. Its
        // first selectors may name the packet that triggered it (RFC 7296 §2.9), so the first
        // that overlaps our policy is narrowed to it.
        let Some((remote_ts, local_ts)) =
            p.narrowed_selectors(&self.config.remote_ts, &self.config.local_ts)
        else {
            return Ok(Err(NotifyType::TS_UNACCEPTABLE));
        };
        let transport = self.config.mode == Mode::Transport
            && p.notify(NotifyType::USE_TRANSPORT_MODE).is_some();
        let inbound_spi = child_spi(rng);
        let mut payloads = Vec::new();
        if transport {
            payloads.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        payloads.push(notify(
            NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED,
            Vec::new(),
        ));
        payloads.push(Payload::Sa(crate::wire::SaPayload {
            proposals: vec![esp_proposal(proposal.number, &suite, inbound_spi, dh)],
        }));
        payloads.push(Payload::TsI(ts(remote_ts)));
        payloads.push(Payload::TsR(ts(local_ts)));
        let mode = if transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        let child = ChildSa {
            inbound_spi,
            outbound_spi,
            suite,
            mode,
            local_ts,
            remote_ts,
        };
        let install = self.child_install(&child, Role::Responder, (ni, nr), g_ir, replaces)?;
        Ok(Ok((payloads, install)))
    }

    /// The keys and datapath parameters of a negotiated CHILD SA. `exchange_role` is our role
    /// in the exchange that created it: its initiator's keys come first (RFC 7296 §2.17).
    /// `g_ir` is the secret of the exchange's own key exchange (PFS), if it had one.
    pub(super) fn child_install(
        &self,
        child: &ChildSa,
        exchange_role: Role,
        (ni, nr): (&[u8], &[u8]),
        g_ir: Option<&[u8]>,
        replaces: Option<u32>,
    ) -> Result<ChildSaInstall, SaError> {
        let crypto = self.crypto()?;
        let keys = ChildSaKeys::derive(
            crypto.suite.prf,
            crypto.keys.sk_d.as_bytes(),
            &child.suite,
            g_ir,
            ni,
            nr,
        )?;
        let (outbound, inbound) = keys.by_direction(exchange_role);
        Ok(ChildSaInstall {
            inbound_spi: child.inbound_spi,
            outbound_spi: child.outbound_spi,
            suite: child.suite,
            inbound_keys: inbound.clone(),
            outbound_keys: outbound.clone(),
            mode: child.mode,
            local_ts: child.local_ts,
            remote_ts: child.remote_ts,
            local: self.local,
            remote: self.remote,
            udp_encapsulation: self.udp_encapsulation,
            lifetime: self.config.child_lifetime,
            replaces,
        })
    }

    /// Initiator side: the CHILD SA the responder accepted, if it accepted one of ours within
    /// the `proposed` selectors (ours, the peer's) and with the DH group of `dh`.
    pub(super) fn accepted_child(
        &self,
        p: &Payloads<'_>,
        inbound_spi: u32,
        proposed: (Ipv4Range, Ipv4Range),
        dh: ChildDh,
    ) -> Option<ChildSa> {
        if p.error_notify().is_some() {
            return None;
        }
        let (suite, outbound_spi) = accepted_esp(p.sa()?, &self.config.esp_suites, dh)?;
        let (local_ts, remote_ts) = p.selectors()?;
        if !proposed.0.contains(&local_ts) || !proposed.1.contains(&remote_ts) {
            return None;
        }
        let transport = self.config.mode == Mode::Transport
            && p.notify(NotifyType::USE_TRANSPORT_MODE).is_some();
        let mode = if transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        Some(ChildSa {
            inbound_spi,
            outbound_spi,
            suite,
            mode,
            local_ts,
            remote_ts,
        })
    }

    pub(super) fn install_child(&mut self, now: Instant, install: ChildSaInstall) {
        if let Some(after) = self.config.child_rekey_time {
            self.child_rekey_at.push((install.inbound_spi, now + after));
        }
        self.children.push(ChildSa {
            inbound_spi: install.inbound_spi,
            outbound_spi: install.outbound_spi,
            suite: install.suite,
            mode: install.mode,
            local_ts: install.local_ts,
            remote_ts: install.remote_ts,
        });
        self.actions.push(Action::InstallChildSa(install));
    }

    pub(super) fn remove_child(&mut self, inbound_spi: u32) {
        self.child_rekey_at.retain(|(spi, _)| *spi != inbound_spi);
        if let Some(i) = self
            .children
            .iter()
            .position(|c| c.inbound_spi == inbound_spi)
        {
            let child = self.children.remove(i);
            self.actions.push(Action::DeleteChildSa {
                inbound_spi: child.inbound_spi,
                outbound_spi: child.outbound_spi,
            });
        }
    }

    pub(super) fn on_create_child_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        id: u32,
        p: Payloads<'_>,
    ) -> Result<(), SaError> {
        let proposes_ike = p
            .sa()
            .is_some_and(|sa| sa.proposals.iter().any(|p| p.protocol == ProtocolId::IKE));
        if proposes_ike {
            return self.on_ike_rekey_request(now, rng, id, p);
        }
        let rekeyed = p.notify(NotifyType::REKEY_SA).map(|n| {
            let spi = <[u8; 4]>::try_from(n.spi.as_slice())
                .map(u32::from_be_bytes)
                .ok();
            spi.and_then(|out| self.children.iter().find(|c| c.outbound_spi == out))
                .map(|c| c.inbound_spi)
        });
        let mut exchange_nonces = None;
        let outcome = match (p.nonce(), rekeyed) {
            (_, Some(None)) => Err((NotifyType::CHILD_SA_NOT_FOUND, Vec::new())),
            (Some(ni), rekeyed) if nonce_ok(ni) => {
                let nr = nonce(rng);
                exchange_nonces = Some((ni.clone(), nr.clone()));
                self.accept_created_child(rng, &p, (ni, nr), rekeyed.flatten())?
            }
            _ => Err((NotifyType::INVALID_SYNTAX, Vec::new())),
        };
        let reply = match &outcome {
            Ok((payloads, _)) => payloads.clone(),
            Err((error, data)) => vec![notify(*error, data.clone())],
        };
        let response = self.seal(rng, ExchangeType::CREATE_CHILD_SA, true, id, &reply)?;
        // The new CHILD SA is in place before the response that lets the initiator use it.
        if let Ok((_, install)) = outcome {
            // RFC 7296 §2.8.1: we are rekeying the same CHILD SA; which new SA is redundant is
            // decided by the nonces once our own exchange completes.
            if let (Some(old_spi), State::ExpectChildResponse(ours), Some((peer_ni, our_nr))) =
                (install.replaces, &self.state, exchange_nonces)
                && ours.replaces == Some(old_spi)
            {
                self.colliding_rekeys.push(RekeyCollision {
                    old_spi,
                    peer_ni,
                    our_nr,
                });
            }
            self.install_child(now, install);
        }
        self.send_response(id, &response);
        Ok(())
    }

    /// Responder side of a CREATE_CHILD_SA request for a CHILD SA, with its nonces: the
    /// payloads to answer with (SA, Nr, [KEr], TSi, TSr, RFC 7296 §1.3.1) and the SA to
    /// install, or the refusal.
    fn accept_created_child<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        p: &Payloads<'_>,
        (ni, nr): (&[u8], Vec<u8>),
        replaces: Option<u32>,
    ) -> Result<Result<(Vec<Payload>, ChildSaInstall), Refusal>, SaError> {
        let dh = match self.pfs_exchange(rng, p.ke()) {
            Ok(dh) => dh,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let g_ir = dh.as_ref().map(|(_, g_ir)| g_ir.as_bytes());
        let exchange_dh = (ChildDh::Group(self.config.pfs), g_ir);
        let accepted = self.accept_child(rng, p, (ni, &nr), replaces, exchange_dh)?;
        Ok(accepted
            .map(|(mut payloads, install)| {
                payloads.insert(0, Payload::Nonce(nr));
                if let Some((ke, _)) = dh {
                    payloads.insert(1, Payload::Ke(ke));
                }
                (payloads, install)
            })
            .map_err(|error| (error, Vec::new())))
    }

    /// Responder side of the key exchange of a CREATE_CHILD_SA request: our KE payload and
    /// the shared secret when the policy asks for PFS, nothing when it does not, or the error
    /// notify and its data (a KE payload for another group asks for ours, RFC 7296 §1.3).
    fn pfs_exchange<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        ke: Option<&KePayload>,
    ) -> Result<Option<(KePayload, SecretBytes)>, Refusal> {
        let group = self.config.pfs;
        match ke {
            None if group == DhGroup::NONE => Ok(None),
            // PFS asked for and not offered, or offered against a policy without it.
            None => Err((NotifyType::NO_PROPOSAL_CHOSEN, Vec::new())),
            Some(_) if group == DhGroup::NONE => Err((NotifyType::NO_PROPOSAL_CHOSEN, Vec::new())),
            Some(ke) if ke.dh_group != group.0 => Err((
                NotifyType::INVALID_KE_PAYLOAD,
                group.0.to_be_bytes().to_vec(),
            )),
            Some(ke) => {
                let ours = DhPrivateKey::generate(group, rng)
                    .map_err(|_| (NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()))?;
                let g_ir = ours
                    .shared_secret(&ke.data)
                    .map_err(|_| (NotifyType::INVALID_SYNTAX, Vec::new()))?;
                let ke = KePayload {
                    dh_group: group.0,
                    data: ours.public_value().to_vec(),
                };
                Ok(Some((ke, g_ir)))
            }
        }
    }

    pub(super) fn on_child_response<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        state: ExpectChildResponse,
        p: Payloads<'_>,
    ) -> Result<(), SaError> {
        let dh = ChildDh::Group(state.dh.as_ref().map_or(DhGroup::NONE, DhPrivateKey::group));
        let accepted = p.nonce().filter(|n| nonce_ok(n)).and_then(|nr| {
            let child = self.accepted_child(&p, state.child_spi, state.selectors, dh)?;
            // With PFS, the responder's KE payload for our group (RFC 7296 §1.3.1).
            let g_ir = match &state.dh {
                None => None,
                Some(ours) => {
                    let ke = p.ke().filter(|ke| ke.dh_group == ours.group().0)?;
                    Some(ours.shared_secret(&ke.data).ok()?)
                }
            };
            Some((nr, child, g_ir))
        });
        let Some((nr, child, g_ir)) = accepted else {
            // Refused (TEMPORARY_FAILURE, NO_PROPOSAL_CHOSEN...): a timed rekey tries again.
            if let (Some(old), Some(_)) = (state.replaces, self.config.child_rekey_time) {
                let retry = now + self.config.retransmit.first_timeout;
                self.child_rekey_at.push((old, retry));
            }
            return Ok(());
        };
        let g_ir = g_ir.as_ref().map(SecretBytes::as_bytes);
        let exchange = (state.nonce.as_slice(), nr.as_slice());
        let install =
            self.child_install(&child, Role::Initiator, exchange, g_ir, state.replaces)?;
        self.install_child(now, install);
        let Some(old) = state.replaces else {
            return Ok(());
        };
        let collision = self.colliding_rekeys.iter().position(|c| c.old_spi == old);
        // RFC 7296 §2.8.1: the SA made with the lowest of the four nonces is redundant and
        // closed by the side that made it; the other side closes the old SA.
        let ours_redundant = collision
            .map(|i| self.colliding_rekeys.remove(i))
            .is_some_and(|c| state.nonce.as_slice().min(nr) < c.peer_ni.as_slice().min(&c.our_nr));
        let delete = if ours_redundant {
            child.inbound_spi
        } else {
            old
        };
        if self.children.iter().any(|c| c.inbound_spi == delete) {
            // RFC 7296 §2.8: the rekey's initiator deletes the old CHILD SA.
            self.delete_child(now, rng, delete)?;
        }
        Ok(())
    }

    /// Negotiates an additional CHILD SA with the configured selectors (CREATE_CHILD_SA).
    pub fn create_child<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
    ) -> Result<(), SaError> {
        let selectors = (self.config.local_ts, self.config.remote_ts);
        self.create_child_for(now, rng, selectors)
    }

    /// Negotiates an additional CHILD SA for these selectors (ours, the peer's), such as a
    /// phase 2 SA of a restart record (CREATE_CHILD_SA); the peer may narrow them.
    pub fn create_child_for<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        selectors: (Ipv4Range, Ipv4Range),
    ) -> Result<(), SaError> {
        self.ready("CHILD SA create")?;
        self.child_request(now, rng, None, selectors)
    }

    /// Rekeys the CHILD SA with this inbound SPI; the old one is deleted once the new one is
    /// installed (RFC 7296 §2.8).
    pub fn rekey_child<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        inbound_spi: u32,
    ) -> Result<(), SaError> {
        self.ready("CHILD SA rekey")?;
        let Some(child) = self.children.iter().find(|c| c.inbound_spi == inbound_spi) else {
            return Err(SaError::UnknownChildSa(inbound_spi));
        };
        // The new SA carries the same traffic as the one it replaces.
        let selectors = (child.local_ts, child.remote_ts);
        self.child_request(now, rng, Some(inbound_spi), selectors)
    }

    pub(super) fn child_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        replaces: Option<u32>,
        selectors: (Ipv4Range, Ipv4Range),
    ) -> Result<(), SaError> {
        let spi = child_spi(rng);
        let ni = nonce(rng);
        let dh = match self.config.pfs {
            DhGroup::NONE => None,
            group => Some(DhPrivateKey::generate(group, rng)?),
        };
        let mut payloads = Vec::new();
        if let Some(old) = replaces {
            payloads.push(Payload::Notify(NotifyPayload {
                protocol: ProtocolId::ESP,
                spi: old.to_be_bytes().to_vec(),
                notify_type: NotifyType::REKEY_SA,
                data: Vec::new(),
            }));
        }
        let mut child =
            self.child_request_payloads(spi, selectors, ChildDh::Group(self.config.pfs));
        // SA, Ni, [KEi], TSi, TSr (RFC 7296 §1.3.1): the nonce and KE go right after SA.
        let sa_at = child
            .iter()
            .position(|p| matches!(p, Payload::Sa(_)))
            .unwrap_or(0);
        child.insert(sa_at + 1, Payload::Nonce(ni.clone()));
        if let Some(ours) = &dh {
            let ke = KePayload {
                dh_group: ours.group().0,
                data: ours.public_value().to_vec(),
            };
            child.insert(sa_at + 2, Payload::Ke(ke));
        }
        payloads.extend(child);
        let id = self.next_request_id;
        let request = self.seal(rng, ExchangeType::CREATE_CHILD_SA, false, id, &payloads)?;
        self.set_state(State::ExpectChildResponse(ExpectChildResponse {
            nonce: ni,
            dh,
            child_spi: spi,
            replaces,
            selectors,
        }));
        self.send_request(now, id, request);
        Ok(())
    }
}
