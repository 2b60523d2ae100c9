//! Who may use a tunnel: [`AuthLayer`] checks credentials the tunnel's owner configured;
//! [`AsyncAuthLayer`] asks an [`AuthValidator`] of the owner's own, which may ask another
//! service.
//!
//! # Credentials
//!
//! An [`AuthLayer`] accepts any mix of:
//!
//! - HTTP Basic user names and passwords, [`basic`](AuthLayer::basic) (once per user);
//! - bearer tokens, `Authorization: Bearer <token>`, [`bearer`](AuthLayer::bearer);
//! - API keys in a named header such as `x-api-key`, [`api_key`](AuthLayer::api_key).
//!
//! A request passes if **any** configured credential matches. It is refused with
//! `401 Unauthorized`, a message saying what to send, and a `WWW-Authenticate` challenge for
//! each configured scheme (`Basic realm="ferrotunnel", charset="UTF-8"`,
//! `Bearer realm="ferrotunnel"`; API keys have no standard challenge, so the message names the
//! header). A layer with no credentials lets nobody in (`403 Forbidden`). The inner service is
//! never called for a refused request.
//!
//! **The credential that matched is removed before the request goes on**: the
//! `Authorization` header, or the API-key header. It was for the tunnel, not for the local
//! service, which should neither see nor log it. A credential that did not match (another
//! scheme, another header) is left alone: it may be meant for the local service.
//!
//! Secrets are compared in constant time with `subtle`, against every configured credential
//! of the kind sent, without stopping at the first match, and over a padded width so that the
//! time taken does not tell a secret's length either. Basic credentials are compared in their
//! base64 form, as sent: nothing the visitor sends is decoded, so a malformed `Authorization`
//! header (bad base64, no `:`, not UTF-8, an unknown scheme) is simply a credential that does
//! not match. `Debug` shows user names, header names and counts, never a secret.
//!
//! [`BasicCredential`], [`BearerToken`] and [`ApiKey`] read credentials from the command line
//! or a config file (`alice:s3cret`, `3f9c2d7e`, `x-api-key=3f9c2d7e`).
//!
//! ```
//! use ferrotunnel::TunnelBody;
//! use ferrotunnel_tower::AuthLayer;
//! use http::{Request, Response, StatusCode, header};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let auth = AuthLayer::new()
//!     .basic("alice", "s3cret")
//!     .bearer("3f9c2d7e");
//! let service = ServiceBuilder::new()
//!     .layer(auth)
//!     .service_fn(|request: Request<TunnelBody>| async move {
//!         // The credential was for the tunnel: the local service does not see it.
//!         assert!(request.headers().get(header::AUTHORIZATION).is_none());
//!         Ok::<_, ferrotunnel::BoxError>(Response::new(TunnelBody::default()))
//!     });
//!
//! let response = service.clone().oneshot(Request::new(TunnelBody::default())).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     response.headers()[header::WWW_AUTHENTICATE],
//!     r#"Basic realm="ferrotunnel", charset="UTF-8""#
//! );
//!
//! let request = Request::builder()
//!     .header(header::AUTHORIZATION, "Basic YWxpY2U6czNjcmV0") // alice:s3cret
//!     .body(TunnelBody::default())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```
//!
//! # Asking another service
//!
//! An [`AsyncAuthLayer`] hands each request's head ([`http::request::Parts`]) to an
//! [`AuthValidator`], awaits its [`Verdict`] without blocking the task, and then passes the
//! request on or refuses it (`401` with the validator's reason by default, or a status of the
//! validator's choosing, like `403`). The validator may take at most
//! [`timeout`](AsyncAuthLayer::timeout) (10 s by default); after that the request is refused
//! with `503 Service Unavailable`. The request's headers pass on as they were.
//!
//! ```
//! use async_trait::async_trait;
//! use ferrotunnel::TunnelBody;
//! use ferrotunnel_tower::{AsyncAuthLayer, AuthValidator, Verdict};
//! use http::{Request, Response, StatusCode, request::Parts};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! /// Asks the team's auth server whether the `x-team-token` is valid.
//! struct TeamAuth;
//!
//! #[async_trait]
//! impl AuthValidator for TeamAuth {
//!     async fn validate(&self, request: &Parts) -> Verdict {
//!         let Some(token) = request.headers.get("x-team-token") else {
//!             return Verdict::deny("send your team token in the x-team-token header");
//!         };
//!         // A real validator would send `token` to the auth server and await its answer.
//!         tokio::task::yield_now().await;
//!         if token == "team-7" {
//!             Verdict::Allow
//!         } else {
//!             Verdict::deny_with(StatusCode::FORBIDDEN, "your team may not use this tunnel")
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let service = ServiceBuilder::new()
//!     .layer(AsyncAuthLayer::new(TeamAuth))
//!     .service_fn(|_request: Request<TunnelBody>| async {
//!         Ok::<_, ferrotunnel::BoxError>(Response::new(TunnelBody::default()))
//!     });
//! let request = Request::builder()
//!     .header("x-team-token", "team-9")
//!     .body(TunnelBody::default())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! # Ok(())
//! # }
//! ```

mod check;
mod credential;
mod future;
mod layer;
mod secret;
mod service;
mod validator;

#[cfg(test)]
mod tests;

pub use credential::{ApiKey, BasicCredential, BearerToken};
pub use future::{AsyncResponseFuture, ResponseFuture};
pub use layer::{AsyncAuthLayer, AuthLayer};
pub use service::{AsyncAuth, Auth};
pub use validator::{AuthValidator, Verdict};
