use std::{fmt, net::IpAddr, sync::Arc};

use super::{Cidr, IpFilter};

/// Lets a request through only if its visitor's address is allowed; see the
/// [module docs](super) for the rules.
///
/// `IpFilterLayer::new()` lets every visitor through whose address is known. Cheap to clone:
/// the lists are shared behind an `Arc` by the layer and every service it makes.
#[derive(Clone, Default)]
pub struct IpFilterLayer {
    rules: Arc<Rules>,
}

impl IpFilterLayer {
    /// A filter with no rules: every visitor whose address is known may use the tunnel.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows visitors in `block`. Once anything is allowed, only allowed visitors get through.
    pub fn allow(mut self, block: impl Into<Cidr>) -> Self {
        Arc::make_mut(&mut self.rules).allow.push(block.into());
        self
    }

    /// Allows visitors in each of `blocks`, like [`allow`](Self::allow) for each.
    pub fn allow_all<I>(mut self, blocks: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Cidr>,
    {
        Arc::make_mut(&mut self.rules)
            .allow
            .extend(blocks.into_iter().map(Into::into));
        self
    }

    /// Refuses visitors in `block`, even if they are also allowed.
    pub fn deny(mut self, block: impl Into<Cidr>) -> Self {
        Arc::make_mut(&mut self.rules).deny.push(block.into());
        self
    }

    /// Refuses visitors in each of `blocks`, like [`deny`](Self::deny) for each.
    pub fn deny_all<I>(mut self, blocks: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Cidr>,
    {
        Arc::make_mut(&mut self.rules)
            .deny
            .extend(blocks.into_iter().map(Into::into));
        self
    }

    /// The allowed blocks, in the order they were added.
    pub fn allowed(&self) -> &[Cidr] {
        &self.rules.allow
    }

    /// The refused blocks, in the order they were added.
    pub fn denied(&self) -> &[Cidr] {
        &self.rules.deny
    }

    /// Whether a visitor at `ip` may use the tunnel (`ip` as
    /// [`visitor_ip`](crate::request::visitor_ip) gives it).
    pub fn accepts(&self, ip: IpAddr) -> bool {
        self.rules.accepts(ip)
    }
}

impl<S> tower::Layer<S> for IpFilterLayer {
    type Service = IpFilter<S>;

    fn layer(&self, inner: S) -> IpFilter<S> {
        IpFilter::from_rules(inner, self.rules.clone())
    }
}

impl fmt::Debug for IpFilterLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpFilterLayer")
            .field("allow", &self.rules.allow)
            .field("deny", &self.rules.deny)
            .finish()
    }
}

/// The two lists, shared by the layer and its services.
#[derive(Clone, Debug, Default)]
pub(super) struct Rules {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
}

impl Rules {
    /// Deny wins; then a non-empty allow list must match. A linear scan of each list: no
    /// allocation, and fast for the few dozen blocks a tunnel has.
    pub(super) fn accepts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        !self.deny.iter().any(|block| block.contains(ip))
            && (self.allow.is_empty() || self.allow.iter().any(|block| block.contains(ip)))
    }
}
