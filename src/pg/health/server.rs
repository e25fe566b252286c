//! Reads [`crate::health::server`] from the server.

use crate::health::server::Server;
use crate::pg::connect::Conn;
use crate::pg::error::Result;

pub async fn read(_c: &Conn) -> Result<Server> {
    Ok(Server::default())
}
