//! Audit events: every change a member makes, for the practice to act on.
//! They hold old and new values (personal data): stored and served to the
//! practice, never logged.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::ids::{AuditId, MemberId, PracticeId};

/// Where a request came from, as the edge saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// Keeps what is worth storing: a plausible IP and at most 256 characters of user agent.
    pub fn new(ip: Option<String>, user_agent: Option<&str>) -> Self {
        let ip = ip.filter(|i| i.len() <= 45 && i.parse::<std::net::IpAddr>().is_ok());
        let user_agent = user_agent
            .map(|ua| ua.chars().filter(|c| !c.is_control()).take(256).collect::<String>())
            .filter(|ua| !ua.is_empty());
        ClientInfo { ip, user_agent }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: AuditId,
    pub practice_id: PracticeId,
    /// Whose record changed.
    pub member_id: MemberId,
    /// Who changed it (the member themselves, or their membership's owner).
    pub actor_id: MemberId,
    /// The field, e.g. `email`, `phones`, `address`, `insurance`.
    pub field: String,
    pub old_value: Value,
    pub new_value: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(default)]
    pub client: ClientInfo,
}

/// A timestamp that sorts as text in time order (UTC, microseconds).
pub fn sortable_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        at.month() as u8,
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn sortable_times_sort_like_the_times() {
        let a = sortable_time(datetime!(2026-01-02 03:04:05.000007 UTC));
        let b = sortable_time(datetime!(2026-01-02 03:04:05.1 UTC));
        let c = sortable_time(datetime!(2026-01-02 00:00 -05:00));
        assert_eq!(a, "2026-01-02T03:04:05.000007Z");
        assert!(a < b && b < c);
    }

    #[test]
    fn client_info_keeps_only_plausible_values() {
        let c = ClientInfo::new(Some("203.0.113.9".into()), Some("Mozilla/5.0\n"));
        assert_eq!(c.ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(c.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(ClientInfo::new(Some("not an ip".into()), Some("")), ClientInfo::default());
        assert_eq!(ClientInfo::new(None, Some(&"x".repeat(400))).user_agent.unwrap().len(), 256);
    }
}
