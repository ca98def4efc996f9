//! A report's thread: the kinds of message and who wrote them, the context each message is
//! sealed under, and sealing one (notes under the staff key). Never logs a message.

use crate::clock::Clock;
use crate::crypto::envelope::{Context, Purpose, Role};
use crate::crypto::ReportKey;
use crate::ids;
use crate::storage::NewMessage;

/// The message kind of internal notes and triage reasons: sealed under the staff key.
pub const NOTE: &str = "note";

fn role_code(role: Role) -> &'static str {
    match role {
        Role::Reporter => "reporter",
        Role::Coordinator => "coordinator",
        Role::System => "system",
        Role::None => "none",
    }
}

pub fn role_of(code: &str) -> Option<Role> {
    match code {
        "reporter" => Some(Role::Reporter),
        "coordinator" => Some(Role::Coordinator),
        "system" => Some(Role::System),
        _ => None,
    }
}

pub fn role_str(role: Role) -> String {
    role_code(role).to_string()
}

/// The context a message of `role` and `kind` is sealed under: the kind is bound too, so a
/// question cannot be turned into an acknowledgement by editing a column.
pub fn message_context(rid: [u8; 16], mid: [u8; 16], role: Role, kind: &str) -> Context {
    let kind_id = match kind {
        "message" => 1,
        "ack" => 2,
        "note" => 3,
        "confirm" => 4,
        _ => 0xFFFF,
    };
    Context::new(Purpose::Message)
        .report(rid)
        .record(mid)
        .role(role)
        .field(kind_id)
}

/// Seals one message of the thread, ready to store.
pub fn seal_message(
    clock: &Clock,
    key: &ReportKey,
    report_id: &str,
    role: Role,
    author_id: Option<String>,
    kind: &str,
    text: &str,
) -> anyhow::Result<NewMessage> {
    let rid = ids::parse(report_id).ok_or_else(|| anyhow::anyhow!("malformed report id"))?;
    let (id, mid) = ids::new_id();
    let ctx = message_context(rid, mid, role, kind);
    // Internal notes (and the reasons recorded with triage) are staff-only: sealed under the
    // staff key, which the meldcode does not open.
    let sealed = if kind == NOTE {
        key.seal_staff(&ctx, text.as_bytes())?
    } else {
        key.seal(&ctx, text.as_bytes())
    };
    let m = NewMessage {
        id,
        report_id: report_id.to_string(),
        author_role: role_str(role),
        author_id,
        kind: kind.to_string(),
        created_on: clock.today_string(),
        sealed,
    };
    Ok(m)
}
