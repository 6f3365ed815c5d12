//! IKEv2 message parser: never panics; whatever parses emits back to bytes that parse equal.
//! The first byte also picks a payload type for a bare (decrypted inner) chain parse.
#![no_main]

use ike::wire::{Message, PayloadType, classify_port_4500, emit_chain, parse_chain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::parse(data) {
        let bytes = message.emit().expect("a parsed message emits");
        assert_eq!(Message::parse(&bytes).as_ref(), Ok(&message));
    }
    if let Some((&first, rest)) = data.split_first() {
        if let Ok(payloads) = parse_chain(PayloadType(first), rest, 0) {
            let mut out = Vec::new();
            emit_chain(&payloads, &mut out).expect("a parsed chain emits");
            assert_eq!(parse_chain(PayloadType(first), &out, 0).as_ref(), Ok(&payloads));
        }
    }
    let _ = classify_port_4500(data);
});
