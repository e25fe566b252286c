//! Reads [`crate::health::horizon`] from the server.

use crate::health::horizon::Horizon;
use crate::pg::connect::Conn;
use crate::pg::error::Result;

pub async fn read(_c: &Conn) -> Result<Horizon> {
    Ok(Horizon::default())
}
