//! A connection to one structure (what IXLCONN returns), and the list services under it.

use super::{Batch, Client, Pending};
use crate::Error;
use crate::structure::{
    ConId, ConName, ConToken, Connected, DeleteEntry, ListNumber, ListOp, LockRequest, MonitorList,
    MonitorSublist, MoveEntry, MultiEntry, ReadEntry, Reason, Reply, Request, ReturnCode, StrName,
    StructureAttrs, WriteEntry, WriteListControls,
};

/// A connection to a structure: its CONTOKEN, CONNAME, CONID and the structure's attributes
/// (the IXLYCONA answer area), and the list services under it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Connection {
    client: Client,
    connected: Connected,
    rc: ReturnCode,
    reason: Reason,
}

impl Connection {
    pub(super) fn new(
        client: Client,
        connected: Connected,
        rc: ReturnCode,
        reason: Reason,
    ) -> Self {
        Self {
            client,
            connected,
            rc,
            reason,
        }
    }

    /// The CF link the connection is on.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The IXLYCONA answer area.
    pub fn connected(&self) -> &Connected {
        &self.connected
    }

    /// The structure.
    pub fn structure(&self) -> &StrName {
        &self.connected.structure
    }

    /// CONTOKEN.
    pub fn token(&self) -> ConToken {
        self.connected.token
    }

    /// CONNAME.
    pub fn conname(&self) -> &ConName {
        &self.connected.conname
    }

    /// CONID.
    pub fn conid(&self) -> ConId {
        self.connected.conid
    }

    /// The structure's attributes as allocated.
    pub fn attrs(&self) -> &StructureAttrs {
        &self.connected.attrs
    }

    /// The IXLCONN return and reason code (RC 4 CONARECONNECTED after reconnecting a
    /// failed-persistent connection).
    pub fn connect_code(&self) -> (ReturnCode, Reason) {
        (self.rc, self.reason)
    }

    /// Submits a list operation under this connection without waiting (MODE=ASYNCTOKEN).
    pub fn submit(&self, op: ListOp) -> Pending {
        self.client.submit(Request::List {
            token: self.token(),
            op,
        })
    }

    /// Submits several list operations under this connection at once; the [`Batch`] hands
    /// out their final replies in order.
    pub fn submit_all(&self, ops: impl IntoIterator<Item = ListOp>) -> Batch {
        let token = self.token();
        self.client
            .submit_all(ops.into_iter().map(|op| Request::List { token, op }))
    }

    /// Runs a list operation under this connection and waits for its final reply
    /// (MODE=SYNCSUSPEND: completed synchronously when it is the only request in flight).
    pub async fn call(&self, op: ListOp) -> Result<Reply, Error> {
        self.client
            .call(Request::List {
                token: self.token(),
                op,
            })
            .await
    }

    /// IXLLSTE REQUEST=WRITE: creates or replaces an entry.
    pub async fn write(&self, write: WriteEntry) -> Result<Reply, Error> {
        self.call(ListOp::Write(write)).await
    }

    /// IXLLSTE REQUEST=READ: reads an entry's data, adjunct and controls.
    pub async fn read(&self, read: ReadEntry) -> Result<Reply, Error> {
        self.call(ListOp::Read(read)).await
    }

    /// IXLLSTE REQUEST=MOVE: moves an entry to another list or position (perhaps reading
    /// or writing it too).
    pub async fn move_entry(&self, movement: MoveEntry) -> Result<Reply, Error> {
        self.call(ListOp::Move(movement)).await
    }

    /// IXLLSTE REQUEST=DELETE: deletes an entry (perhaps reading it first).
    pub async fn delete(&self, delete: DeleteEntry) -> Result<Reply, Error> {
        self.call(ListOp::Delete(delete)).await
    }

    /// IXLLSTE with LOCKOPER only: SET, RESET, TEST, NOTHELD or HELDBY on a lock table entry.
    /// An unconditional SET waits in the CF's FIFO queue until the lock is granted.
    pub async fn lock(&self, lock: LockRequest) -> Result<Reply, Error> {
        self.call(ListOp::Lock(lock)).await
    }

    /// IXLLSTM REQUEST=READ_LIST: reads many entries of one list.
    pub async fn read_list(&self, multi: MultiEntry) -> Result<Reply, Error> {
        self.call(ListOp::ReadList(multi)).await
    }

    /// IXLLSTM REQUEST=DELETE_LIST: deletes many entries of one list.
    pub async fn delete_list(&self, multi: MultiEntry) -> Result<Reply, Error> {
        self.call(ListOp::DeleteList(multi)).await
    }

    /// IXLLSTC REQUEST=READ_LCONTROLS: a list's controls.
    pub async fn read_list_controls(&self, list: ListNumber) -> Result<Reply, Error> {
        self.call(ListOp::ReadListControls { list }).await
    }

    /// IXLLSTC REQUEST=WRITE_LCONTROLS: sets a list's limit, description, keys or cursor.
    pub async fn write_list_controls(&self, controls: WriteListControls) -> Result<Reply, Error> {
        self.call(ListOp::WriteListControls(controls)).await
    }

    /// IXLLSTC REQUEST=MONITOR_LIST: binds a list to a notification vector bit (or stops).
    pub async fn monitor_list(&self, monitor: MonitorList) -> Result<Reply, Error> {
        self.call(ListOp::MonitorList(monitor)).await
    }

    /// IXLLSTC REQUEST=MONITOR_SUBLIST: creates (or deletes) an event monitor control.
    pub async fn monitor_sublist(&self, monitor: MonitorSublist) -> Result<Reply, Error> {
        self.call(ListOp::MonitorSublist(monitor)).await
    }

    /// IXLLSTC REQUEST=DEQ_EVENTQ: takes up to `max` EMCs off this connector's event queue.
    pub async fn dequeue_events(&self, max: u32) -> Result<Reply, Error> {
        self.call(ListOp::DeqEventQueue { max }).await
    }

    /// IXLVECTR LTVECENTRIES / TESTLISTSTATE: this connector's list notification vector.
    pub async fn read_vector(&self) -> Result<Reply, Error> {
        self.call(ListOp::ReadVector).await
    }

    /// IXLEERSP DISCFAILCONN,RELEASECONN=YES: releases a failed-persistent peer connection.
    pub async fn release_connection(&self, conname: ConName) -> Result<Reply, Error> {
        self.client
            .call(Request::ReleaseConnection {
                token: self.token(),
                conname,
            })
            .await
    }

    /// IXLDISC: disconnects normally; peers are told Disconnected.
    pub async fn disconnect(self) -> Result<Reply, Error> {
        self.client
            .call(Request::Disconnect {
                token: self.token(),
            })
            .await
    }
}
