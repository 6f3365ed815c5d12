//! IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" transform identifiers.
//!
//! Each registry is an open newtype with named consts, so a value we do not implement still
//! parses, prints and survives a round trip (a peer may propose anything).

use std::fmt;

/// Defines an open newtype over a protocol number with named consts, `Debug`/`Display` that
/// print the IANA name (or the number when unnamed) and conversions to and from the number.
macro_rules! registry {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $value:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: Self = Self($value); )*

            /// The IANA name of this value, if it has one here.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( Self::$konst => Some(stringify!($konst)), )*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                Self(value)
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

registry! {
    /// Transform Type of a Transform substructure (RFC 7296 §3.3.2).
    TransformType(u8) {
        /// Encryption algorithm.
        ENCR = 1,
        /// Pseudorandom function.
        PRF = 2,
        /// Integrity algorithm.
        INTEG = 3,
        /// Diffie-Hellman group (renamed Key Exchange Method by RFC 9370).
        DH = 4,
        /// Extended sequence numbers.
        ESN = 5,
    }
}

registry! {
    /// Transform Type 1: encryption algorithm IDs.
    EncrId(u16) {
        /// Triple DES (RFC 2451).
        ENCR_3DES = 3,
        /// No encryption (ESP only, RFC 2410).
        ENCR_NULL = 11,
        /// AES in CBC mode (RFC 3602); needs a Key Length attribute.
        ENCR_AES_CBC = 12,
        /// AES in counter mode (RFC 3686).
        ENCR_AES_CTR = 13,
        /// AES-CCM with a 16-octet ICV (RFC 4309).
        ENCR_AES_CCM_16 = 16,
        /// AES-GCM with an 8-octet ICV (RFC 4106).
        ENCR_AES_GCM_8 = 18,
        /// AES-GCM with a 12-octet ICV (RFC 4106).
        ENCR_AES_GCM_12 = 19,
        /// AES-GCM with a 16-octet ICV (RFC 4106, RFC 5282); needs a Key Length attribute.
        ENCR_AES_GCM_16 = 20,
        /// ChaCha20-Poly1305 (RFC 7634).
        ENCR_CHACHA20_POLY1305 = 28,
    }
}

registry! {
    /// Transform Type 2: pseudorandom function IDs.
    PrfId(u16) {
        /// HMAC-MD5 (RFC 2104).
        PRF_HMAC_MD5 = 1,
        /// HMAC-SHA1 (RFC 2104).
        PRF_HMAC_SHA1 = 2,
        /// AES-XCBC-PRF-128 (RFC 4434).
        PRF_AES128_XCBC = 4,
        /// HMAC-SHA2-256 (RFC 4868).
        PRF_HMAC_SHA2_256 = 5,
        /// HMAC-SHA2-384 (RFC 4868).
        PRF_HMAC_SHA2_384 = 6,
        /// HMAC-SHA2-512 (RFC 4868).
        PRF_HMAC_SHA2_512 = 7,
        /// AES-CMAC-PRF-128 (RFC 4615).
        PRF_AES128_CMAC = 8,
    }
}

registry! {
    /// Transform Type 3: integrity algorithm IDs.
    IntegId(u16) {
        /// No integrity algorithm (with an AEAD cipher).
        NONE = 0,
        /// HMAC-MD5-96 (RFC 2403).
        AUTH_HMAC_MD5_96 = 1,
        /// HMAC-SHA1-96 (RFC 2404).
        AUTH_HMAC_SHA1_96 = 2,
        /// AES-XCBC-MAC-96 (RFC 3566).
        AUTH_AES_XCBC_96 = 5,
        /// HMAC-SHA2-256-128 (RFC 4868).
        AUTH_HMAC_SHA2_256_128 = 12,
        /// HMAC-SHA2-384-192 (RFC 4868).
        AUTH_HMAC_SHA2_384_192 = 13,
        /// HMAC-SHA2-512-256 (RFC 4868).
        AUTH_HMAC_SHA2_512_256 = 14,
    }
}

registry! {
    /// Transform Type 4: Diffie-Hellman group numbers.
    DhGroup(u16) {
        /// No group (a CHILD SA without PFS).
        NONE = 0,
        /// 1024-bit MODP group (RFC 7296 Appendix B.2).
        MODP_1024 = 2,
        /// 2048-bit MODP group (RFC 3526 §3).
        MODP_2048 = 14,
        /// 3072-bit MODP group (RFC 3526 §4).
        MODP_3072 = 15,
        /// 256-bit random ECP group (RFC 5903).
        ECP_256 = 19,
        /// Curve25519 (RFC 8031).
        CURVE25519 = 31,
        /// Curve448 (RFC 8031).
        CURVE448 = 32,
    }
}

registry! {
    /// Transform Type 5: extended sequence numbers.
    EsnId(u16) {
        /// 32-bit sequence numbers.
        NO_ESN = 0,
        /// 64-bit extended sequence numbers (not supported by strongSwan's kernel-libipsec).
        ESN = 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_values_print_their_iana_names() {
        assert_eq!(EncrId::ENCR_AES_GCM_16.to_string(), "ENCR_AES_GCM_16");
        assert_eq!(PrfId(5).to_string(), "PRF_HMAC_SHA2_256");
        assert_eq!(format!("{:?}", DhGroup(31)), "CURVE25519");
        assert_eq!(IntegId::AUTH_HMAC_SHA2_256_128.0, 12);
    }

    #[test]
    fn unknown_values_survive_and_print_their_number() {
        let unknown = EncrId::from(1031);
        assert_eq!(unknown.name(), None);
        assert_eq!(unknown.to_string(), "EncrId(1031)");
        assert_eq!(u16::from(unknown), 1031);
    }

    #[test]
    fn registry_numbers_match_iana() {
        assert_eq!(EncrId::ENCR_AES_CBC.0, 12);
        assert_eq!(EncrId::ENCR_AES_GCM_16.0, 20);
        assert_eq!(PrfId::PRF_HMAC_SHA2_256.0, 5);
        assert_eq!(DhGroup::MODP_2048.0, 14);
        assert_eq!(DhGroup::CURVE25519.0, 31);
        assert_eq!(EsnId::NO_ESN.0, 0);
        assert_eq!(EsnId::ESN.0, 1);
        assert_eq!(TransformType::ESN.0, 5);
    }
}
