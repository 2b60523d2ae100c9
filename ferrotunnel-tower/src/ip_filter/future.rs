/// The future of [`IpFilter`](super::IpFilter): the inner service's response, or the 403.
pub type ResponseFuture<F, B> = crate::body::RefusingFuture<F, B>;
