//! Shared-key AUTH payloads (RFC 7296 §2.15).

use subtle::ConstantTimeEq;

use super::prf::Prf;

/// The key pad of the shared-key MIC: prf(Shared Secret, "Key Pad for IKEv2").
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// The octets an AUTH payload covers: the signer's raw first message (its IKE_SA_INIT request
/// or response, exactly as sent) | the peer's nonce data | prf(SK_px, IDx'), where IDx' is
/// the signer's ID payload body (ID Type, three reserved octets and the identification
/// data, without the generic payload header) and SK_px is the signer's SK_pi or SK_pr.
pub fn signed_octets(
    prf: Prf,
    sk_p: &[u8],
    first_message: &[u8],
    peer_nonce: &[u8],
    id_body: &[u8],
) -> Vec<u8> {
    let maced_id = prf.prf(sk_p, id_body);
    [first_message, peer_nonce, &maced_id].concat()
}

/// AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>): the Authentication
/// Data of an AUTH payload with method 2 (Shared Key Message Integrity Code).
pub fn psk_auth(prf: Prf, shared_secret: &[u8], signed_octets: &[u8]) -> Vec<u8> {
    let key = prf.prf(shared_secret, KEY_PAD);
    prf.prf(&key, signed_octets)
}

/// True when a received Authentication Data equals the expected shared-key MIC (compared in
/// constant time).
pub fn verify_psk_auth(
    prf: Prf,
    shared_secret: &[u8],
    signed_octets: &[u8],
    received: &[u8],
) -> bool {
    psk_auth(prf, shared_secret, signed_octets)
        .ct_eq(received)
        .into()
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;

    use super::*;

    // Expected values computed independently with Python's hmac module:
    // hmac(hmac(psk, b"Key Pad for IKEv2"), message | nonce | hmac(sk_p, id_body)).
    const PSK: &[u8] = b"zsysplex-lab-secret";
    const MESSAGE: &[u8] = b"raw IKE_SA_INIT request";
    const PEER_NONCE: [u8; 16] = [0x5a; 16];
    const SK_PI: [u8; 32] = [0x11; 32];
    // ID_IPV4_ADDR 192.0.2.1.
    const ID_BODY: [u8; 8] = hex!("01000000c0000201");

    #[test]
    fn psk_auth_matches_an_independent_computation() {
        let octets = signed_octets(Prf::HmacSha2_256, &SK_PI, MESSAGE, &PEER_NONCE, &ID_BODY);
        assert_eq!(octets.len(), MESSAGE.len() + 16 + 32);
        assert_eq!(psk_auth(Prf::HmacSha2_256, PSK, &octets), EXPECTED_AUTH);
    }

    #[test]
    fn verification_accepts_only_the_exact_mic() {
        let octets = signed_octets(Prf::HmacSha2_256, &SK_PI, MESSAGE, &PEER_NONCE, &ID_BODY);
        assert!(verify_psk_auth(
            Prf::HmacSha2_256,
            PSK,
            &octets,
            &EXPECTED_AUTH
        ));
        assert!(!verify_psk_auth(
            Prf::HmacSha2_256,
            b"wrong secret",
            &octets,
            &EXPECTED_AUTH
        ));
        assert!(!verify_psk_auth(
            Prf::HmacSha2_256,
            PSK,
            &octets,
            &EXPECTED_AUTH[..31]
        ));
        assert!(!verify_psk_auth(Prf::HmacSha2_256, PSK, &octets, &[]));
    }

    const EXPECTED_AUTH: [u8; 32] =
        hex!("5e656d08754ead59a6995452a0fbf6b0ad2df03e1f06774732b210a5e0e4838a");
}
