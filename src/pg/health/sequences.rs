//! Reads [`crate::health::sequences`] from the server.

use crate::health::sequences::Sequences;
use crate::pg::connect::Conn;
use crate::pg::error::Result;

pub async fn read(_c: &Conn) -> Result<Sequences> {
    Ok(Sequences::default())
}
