//! Hostile input: each gets its error, the server survives, other connectors go on, and the
//! structure is unchanged afterwards.

use bytes::BytesMut;
use cf::Error;
use cf::auth::Secret;
use cf::client::Client;
use cf::structure::{Durability, ListOp, LockOper, LockRequest, Reason, Request, ReturnCode};
use cf::wire::{
    CfMessage, ConnectorMessage, DEFAULT_MAX_FRAME, LinkFailure, Refusal, RequestId, decode_frame,
    encode_frame,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{
    PATIENCE, TestCf, attrs, connect, connect_request, name, ok, read_head, write_op,
};

/// Sends raw bytes on a fresh TCP connection and returns every message the CF sends back
/// before it closes the connection.
async fn raw_exchange(cf: &TestCf, bytes: &[u8]) -> Vec<CfMessage> {
    let mut socket = TcpStream::connect(cf.addr).await.unwrap();
    socket.write_all(bytes).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, socket.read_to_end(&mut received))
        .await
        .expect("the CF closes the link")
        .unwrap();
    let mut messages = Vec::new();
    let mut rest = &received[..];
    while let Some((message, used)) = decode_frame::<CfMessage>(rest, DEFAULT_MAX_FRAME).unwrap() {
        messages.push(message);
        rest = &rest[used..];
    }
    assert!(rest.is_empty(), "trailing bytes after the last frame");
    messages
}

fn frame(message: &ConnectorMessage) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_frame(message, &mut buf, DEFAULT_MAX_FRAME).unwrap();
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_and_changes_nothing() {
    let (cf, _store) = TestCf::in_memory().await;

    // A good connector fills the structure to its limit and holds a lock.
    let mut small = attrs(Durability::Async);
    small.entry_count = 4;
    let good = cf.client("SYS1").await;
    let owner = connect(&good, connect_request("HOSTILE", "OWNER", small)).await;
    for i in 0..4u8 {
        ok(&owner.call(write_op(0, &[i; 40])).await.unwrap());
    }
    let lock = |oper| {
        ListOp::Lock(LockRequest {
            index: 5,
            oper,
            conditional: true,
        })
    };
    ok(&owner.call(lock(LockOper::Set)).await.unwrap());
    let before = good.dump(name("HOSTILE")).await.unwrap();

    // Garbage: a frame whose body is not a message.
    let garbage = raw_exchange(&cf, &[0, 0, 0, 4, 0xEE, 0xFF, 0x13, 0x37]).await;
    assert_eq!(garbage, [CfMessage::Closing(LinkFailure::Malformed)]);

    // Oversized: a header announcing 1 GiB.
    let oversized = raw_exchange(&cf, &[0x40, 0, 0, 0]).await;
    assert_eq!(
        oversized,
        [CfMessage::Closing(LinkFailure::FrameTooLarge {
            len: 0x4000_0000,
            max: u64::try_from(DEFAULT_MAX_FRAME).unwrap(),
        })]
    );

    // A request before authenticating.
    let unauthenticated = raw_exchange(
        &cf,
        &frame(&ConnectorMessage::Request {
            id: RequestId(1),
            request: Request::Force {
                structure: name("HOSTILE"),
            },
        }),
    )
    .await;
    assert_eq!(
        unauthenticated,
        [CfMessage::Closing(LinkFailure::NotAuthenticated)]
    );

    // The wrong secret: the client sees the CF's proof fail and gives up; the CF never
    // hears a valid proof.
    let wrong = Secret::new(*b"not-the-sysplex-secret").unwrap();
    let refused = Client::connect(cf.addr, &wrong, "SYS9", "INTRUDER").await;
    assert!(matches!(refused, Err(Error::Auth(_))), "{refused:?}");

    // Another connector on another system: its own connection works, but it cannot use the
    // owner's CONTOKEN, release the owner's lock, or add to the full structure.
    let other_client = cf.client("SYS2").await;
    let mut same = attrs(Durability::Async);
    same.entry_count = 4;
    let other = connect(&other_client, connect_request("HOSTILE", "OTHER", same)).await;
    let stolen = other_client
        .call(Request::List {
            token: owner.token(),
            op: write_op(1, b"stolen token"),
        })
        .await
        .unwrap();
    assert_eq!(
        (stolen.rc, stolen.reason),
        (ReturnCode::EnvError, Reason::NotAuthorized)
    );
    let reset = other.call(lock(LockOper::Reset)).await.unwrap();
    assert!(
        !reset.is_success(),
        "reset a lock held by another connection: {reset:?}"
    );
    let full = other.call(write_op(1, b"one too many")).await.unwrap();
    assert_eq!(full.reason, Reason::StrFull, "{full:?}");
    let server_only = other_client.call(Request::LinkDropped).await;
    assert!(
        matches!(server_only, Err(Error::Refused(Refusal::ServerOnly))),
        "{server_only:?}"
    );

    // The good connector carries on, and nothing changed.
    let head = owner.call(read_head(0)).await.unwrap();
    ok(&head);
    ok(&other.disconnect().await.unwrap());
    let after = good.dump(name("HOSTILE")).await.unwrap();
    assert_eq!(after, before);
    cf.stop().await;
}
