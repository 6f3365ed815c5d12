//! Open enums for IKEv2 protocol numbers (IANA "IKEv2 Parameters"). Each is a newtype over the
//! wire integer with named constants, so values we do not know survive a parse/emit round trip.

use std::fmt;

/// Declares an open protocol-number newtype with named constants and a name lookup.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $value:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[derive(serde::Serialize, serde::Deserialize)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: Self = Self($value); )*

            /// The registered name of this value, if it is one we know.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some(stringify!($konst)), )*
                    _ => None,
                }
            }

            /// Every value with a name, in declaration order.
            pub const KNOWN: &'static [Self] = &[$(Self::$konst),*];
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
    };
}

open_enum! {
    /// Exchange type in the IKE header (RFC 7296 §3.1).
    ExchangeType(u8) {
        /// Initial exchange: SA, KE, nonces.
        IKE_SA_INIT = 34,
        /// Authentication exchange, carries the first CHILD SA.
        IKE_AUTH = 35,
        /// New CHILD SA, CHILD SA rekey, IKE SA rekey.
        CREATE_CHILD_SA = 36,
        /// Delete, notifications, liveness checks.
        INFORMATIONAL = 37,
    }
}

open_enum! {
    /// Payload type in the "next payload" fields (RFC 7296 §3.2, RFC 7383).
    PayloadType(u8) {
        /// End of the payload chain.
        NONE = 0,
        /// Security Association.
        SA = 33,
        /// Key Exchange.
        KE = 34,
        /// Identification, initiator.
        IDI = 35,
        /// Identification, responder.
        IDR = 36,
        /// Certificate.
        CERT = 37,
        /// Certificate request.
        CERTREQ = 38,
        /// Authentication.
        AUTH = 39,
        /// Nonce.
        NONCE = 40,
        /// Notify.
        N = 41,
        /// Delete.
        D = 42,
        /// Vendor ID.
        V = 43,
        /// Traffic selector, initiator.
        TSI = 44,
        /// Traffic selector, responder.
        TSR = 45,
        /// Encrypted and authenticated.
        SK = 46,
        /// Configuration.
        CP = 47,
        /// Extensible authentication.
        EAP = 48,
        /// Encrypted and authenticated fragment (RFC 7383).
        SKF = 53,
    }
}

impl PayloadType {
    /// Whether a receiver recognises this type, so its critical bit is ignored (RFC 7296 §2.5).
    pub fn is_recognised(self) -> bool {
        self != Self::NONE && self.name().is_some()
    }
}

open_enum! {
    /// Protocol ID in proposals, notifies and deletes (RFC 7296 §3.3.1).
    ProtocolId(u8) {
        /// No protocol (notifies that concern no SA).
        NONE = 0,
        /// The IKE SA.
        IKE = 1,
        /// Authentication Header.
        AH = 2,
        /// Encapsulating Security Payload.
        ESP = 3,
    }
}

open_enum! {
    /// Transform type within a proposal (RFC 7296 §3.3.2).
    TransformType(u8) {
        /// Encryption algorithm.
        ENCR = 1,
        /// Pseudorandom function.
        PRF = 2,
        /// Integrity algorithm.
        INTEG = 3,
        /// Diffie-Hellman group.
        DH = 4,
        /// Extended sequence numbers.
        ESN = 5,
    }
}

open_enum! {
    /// Transform attribute type (RFC 7296 §3.3.5).
    AttributeType(u16) {
        /// Key length in bits, for variable-length ciphers.
        KEY_LENGTH = 14,
    }
}

open_enum! {
    /// Identification type (RFC 7296 §3.5).
    IdType(u8) {
        /// A single IPv4 address.
        ID_IPV4_ADDR = 1,
        /// A fully qualified domain name.
        ID_FQDN = 2,
        /// An RFC 822 e-mail address.
        ID_RFC822_ADDR = 3,
        /// A single IPv6 address.
        ID_IPV6_ADDR = 5,
        /// A DER-encoded X.500 distinguished name.
        ID_DER_ASN1_DN = 9,
        /// A DER-encoded X.509 general name.
        ID_DER_ASN1_GN = 10,
        /// An opaque key identifier.
        ID_KEY_ID = 11,
    }
}

open_enum! {
    /// Authentication method (RFC 7296 §3.8).
    AuthMethod(u8) {
        /// RSA digital signature.
        RSA_SIG = 1,
        /// Shared key message integrity code (PSK).
        SHARED_KEY_MIC = 2,
        /// DSS digital signature.
        DSS_SIG = 3,
        /// Generic digital signature (RFC 7427).
        DIGITAL_SIGNATURE = 14,
    }
}

open_enum! {
    /// Traffic selector type (RFC 7296 §3.13.1).
    TsType(u8) {
        /// An IPv4 address range.
        TS_IPV4_ADDR_RANGE = 7,
        /// An IPv6 address range.
        TS_IPV6_ADDR_RANGE = 8,
    }
}

open_enum! {
    /// Notify message type (RFC 7296 §3.10.1 and the extensions we speak).
    NotifyType(u16) {
        /// A critical payload type was not recognised.
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        /// The IKE SPI is not known.
        INVALID_IKE_SPI = 4,
        /// The major version is not supported.
        INVALID_MAJOR_VERSION = 5,
        /// The message is malformed.
        INVALID_SYNTAX = 7,
        /// The message ID is outside the window.
        INVALID_MESSAGE_ID = 9,
        /// An ESP or AH SPI is not known.
        INVALID_SPI = 11,
        /// No proposal was acceptable.
        NO_PROPOSAL_CHOSEN = 14,
        /// The KE payload uses another group than the one wanted.
        INVALID_KE_PAYLOAD = 17,
        /// Authentication failed.
        AUTHENTICATION_FAILED = 24,
        /// Only one pair of traffic selectors is accepted.
        SINGLE_PAIR_REQUIRED = 34,
        /// No more CHILD SAs are accepted on this IKE SA.
        NO_ADDITIONAL_SAS = 35,
        /// No internal address could be assigned.
        INTERNAL_ADDRESS_FAILURE = 36,
        /// A configuration payload was required.
        FAILED_CP_REQUIRED = 37,
        /// The traffic selectors are unacceptable.
        TS_UNACCEPTABLE = 38,
        /// A packet's selectors do not match the SA.
        INVALID_SELECTORS = 39,
        /// Try again later (e.g. during a rekey collision).
        TEMPORARY_FAILURE = 43,
        /// The CHILD SA to rekey does not exist.
        CHILD_SA_NOT_FOUND = 44,
        /// The sender has no other SA with the receiver.
        INITIAL_CONTACT = 16384,
        /// The sender's message window size.
        SET_WINDOW_SIZE = 16385,
        /// More traffic selectors could be accepted.
        ADDITIONAL_TS_POSSIBLE = 16386,
        /// IP compression is supported.
        IPCOMP_SUPPORTED = 16387,
        /// Hash of the sender's address and port.
        NAT_DETECTION_SOURCE_IP = 16388,
        /// Hash of the receiver's address and port.
        NAT_DETECTION_DESTINATION_IP = 16389,
        /// Stateless cookie for the responder under load.
        COOKIE = 16390,
        /// Transport mode is requested.
        USE_TRANSPORT_MODE = 16391,
        /// Certificates can be fetched by HTTP.
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        /// The SA this exchange rekeys.
        REKEY_SA = 16393,
        /// TFC padding is not supported.
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        /// Non-first fragments are also sent on this SA.
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        /// MOBIKE is supported (RFC 4555).
        MOBIKE_SUPPORTED = 16396,
        /// The sender supports redirects (RFC 5685).
        REDIRECT_SUPPORTED = 16406,
        /// IKE fragmentation is supported (RFC 7383).
        IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        /// Signature hash algorithms supported (RFC 7427).
        SIGNATURE_HASH_ALGORITHMS = 16431,
    }
}

impl NotifyType {
    /// Whether this is an error notify (types below 16384, RFC 7296 §3.10.1).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_display_their_names() {
        assert_eq!(ExchangeType::IKE_SA_INIT.to_string(), "IKE_SA_INIT");
        assert_eq!(
            NotifyType::from(16388).to_string(),
            "NAT_DETECTION_SOURCE_IP"
        );
    }

    #[test]
    fn unknown_values_survive_and_display_their_number() {
        let odd = NotifyType::from(40_000);
        assert_eq!(u16::from(odd), 40_000);
        assert_eq!(odd.name(), None);
        assert_eq!(odd.to_string(), "NotifyType(40000)");
    }

    #[test]
    fn classifies_error_notifies_and_recognised_payloads() {
        assert!(NotifyType::AUTHENTICATION_FAILED.is_error());
        assert!(!NotifyType::INITIAL_CONTACT.is_error());
        assert!(PayloadType::SKF.is_recognised());
        assert!(!PayloadType::from(200).is_recognised());
        assert!(!PayloadType::NONE.is_recognised());
    }
}
