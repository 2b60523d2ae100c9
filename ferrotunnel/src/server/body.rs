//! [`TunnelBody`], the one body type inside the ingress stack, and how other bodies become one.

use std::any::Any;

use bytes::Bytes;
use http_body_util::{BodyExt, combinators::UnsyncBoxBody};

use crate::BoxError;

/// The body type of requests and responses inside the ingress stack: any body, boxed, streaming.
pub type TunnelBody = UnsyncBoxBody<Bytes, BoxError>;

/// Boxes `body` into a [`TunnelBody`]. A body that already is one is passed through as it is,
/// not boxed a second time: layers in the stack hand the same body on, and a box per layer per
/// response would be an allocation each.
pub fn into_tunnel_body<B>(body: B) -> TunnelBody
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut body = Some(body);
    if let Some(already) = (&mut body as &mut dyn Any).downcast_mut::<Option<TunnelBody>>() {
        if let Some(already) = already.take() {
            return already;
        }
    }
    match body {
        Some(body) => body.map_err(Into::into).boxed_unsync(),
        None => TunnelBody::default(),
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::Full;

    use super::*;

    #[tokio::test]
    async fn tunnel_bodies_pass_through_and_others_are_boxed() {
        let boxed = into_tunnel_body(Full::new(Bytes::from_static(b"full")));
        let again = into_tunnel_body(boxed);
        let bytes = again.collect().await.expect("body").to_bytes();
        assert_eq!(&bytes[..], b"full");
    }
}
