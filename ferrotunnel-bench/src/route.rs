//! A route to the local service: direct, through ferrotunnel, or through a peer tunnel. The
//! traffic figures run the same load over every route, interleaved, so that noise on the
//! machine falls on all of them alike.

use crate::load::Target;

/// One way for the load generator to reach the local service.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The column name: `direct`, `ferrotunnel`, `rathole`, `bore`.
    pub(crate) name: String,
    pub(crate) target: Target,
    /// The tunnel's server and client processes, for memory readings.
    pub(crate) server_pid: Option<u32>,
    pub(crate) client_pid: Option<u32>,
}
