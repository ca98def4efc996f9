//! Random identifiers for reports, messages and coordinators: 128 bits from the OS, hex in
//! the database and in URLs. Never sequential or time-ordered, so an id tells nothing about
//! when or in which order something happened.

use rand::rngs::OsRng;
use rand::RngCore;

pub fn new_id() -> (String, [u8; 16]) {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    (hex::encode(b), b)
}

/// The 16 bytes of a hex id; `None` for anything else (so a hostile path never reaches SQL
/// as anything but a well-formed id).
pub fn parse(id: &str) -> Option<[u8; 16]> {
    if id.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    hex::decode_to_slice(id, &mut b).ok()?;
    Some(b)
}
