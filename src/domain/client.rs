//! Who is asking: the client's address, user agent and flow binding, as the HTTP layer saw
//! them.

use crate::domain::binding::ClientBinding;

/// Who is asking (for throttling, audit and the session list), and the flows it may finish.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The binding cookie the request presented, and the one flows it starts get.
    pub flow_binding: ClientBinding,
}
