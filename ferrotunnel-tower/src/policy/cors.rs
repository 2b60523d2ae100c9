//! The `cors` policy: which web origins may call a tunnel from a browser, with tower-http's
//! [`CorsLayer`] doing the work (preflights answered, `Access-Control-*` headers set).

use std::{fmt, str::FromStr};

use http::{HeaderValue, Uri};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer, ExposeHeaders};

/// Which origins a tunnel serves to browsers: `*` (any origin, without credentials) or a
/// comma-separated list of origins, which may send credentials (cookies, `Authorization`).
#[derive(Clone, PartialEq, Eq)]
pub enum CorsSpec {
    /// Any origin; requests with credentials are not allowed (the CORS rules forbid both).
    Any,
    /// These origins (`https://app.example.com`), credentials allowed.
    Origins(Vec<HeaderValue>),
}

impl CorsSpec {
    /// The layer: preflight requests are answered by it (the local service never sees them),
    /// and every response gets the headers that let the browser read it. Methods and request
    /// headers are allowed as the preflight asks; every response header is exposed.
    pub fn layer(&self) -> CorsLayer {
        match self {
            Self::Any => CorsLayer::new()
                .allow_origin(AllowOrigin::any())
                .allow_methods(AllowMethods::any())
                .allow_headers(AllowHeaders::any())
                .expose_headers(ExposeHeaders::any()),
            Self::Origins(origins) => CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins.iter().cloned()))
                .allow_methods(AllowMethods::mirror_request())
                .allow_headers(AllowHeaders::mirror_request())
                .allow_credentials(true),
        }
    }
}

impl FromStr for CorsSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let hint = "write * or origins like https://app.example.com,http://localhost:3000";
        if text.trim() == "*" {
            return Ok(Self::Any);
        }
        let origins = text
            .split(',')
            .map(str::trim)
            .map(|origin| {
                origin_value(origin)
                    .map_err(|why| format!("{text:?} is not a CORS origin list: {why}; {hint}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::Origins(origins))
    }
}

/// `scheme://host[:port]`, nothing more: that is what browsers send in `Origin`.
fn origin_value(origin: &str) -> Result<HeaderValue, String> {
    if origin.is_empty() {
        return Err("an origin is empty".into());
    }
    let uri: Uri = origin
        .parse()
        .map_err(|_| format!("{origin:?} is not a URL"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let bare = uri.path_and_query().is_none_or(|pq| pq.as_str() == "/") && !origin.ends_with('/');
    if !scheme_ok || uri.host().is_none() || !bare {
        return Err(format!(
            "{origin:?} is not an origin (http:// or https://, a host, an optional port, no path)"
        ));
    }
    HeaderValue::from_str(origin).map_err(|_| format!("{origin:?} is not a valid header value"))
}

impl fmt::Display for CorsSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Origins(origins) => {
                for (i, origin) in origins.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    // Checked to be visible ASCII when parsed.
                    f.write_str(origin.to_str().unwrap_or_default())?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for CorsSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CorsSpec({self})")
    }
}

#[cfg(test)]
mod tests {
    use ferrotunnel::{BoxError, TunnelBody};
    use http::{Method, Request, Response, StatusCode, header};
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;

    #[test]
    fn specs_read_back_what_they_write() {
        for text in [
            "*",
            "https://app.example.com",
            "https://a.example,http://localhost:3000",
        ] {
            let spec: CorsSpec = text.parse().expect(text);
            assert_eq!(spec.to_string(), text);
            assert_eq!(spec.to_string().parse::<CorsSpec>(), Ok(spec));
        }
        assert_eq!(
            " https://a.example , https://b.example "
                .parse::<CorsSpec>()
                .map(|s| s.to_string()),
            Ok("https://a.example,https://b.example".into())
        );
    }

    #[test]
    fn bad_origins_are_refused_with_a_hint() {
        for (text, needle) in [
            ("", "an origin is empty"),
            ("https://a.example,", "an origin is empty"),
            ("app.example.com", "is not an origin"),
            ("ftp://app.example.com", "is not an origin"),
            ("https://app.example.com/path", "is not an origin"),
            ("https://app.example.com/", "is not an origin"),
        ] {
            let err = text.parse::<CorsSpec>().expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.contains("write * or origins like"), "{text}: {err}");
        }
    }

    async fn preflight(spec: &str, origin: &str) -> Response<TunnelBody> {
        let spec: CorsSpec = spec.parse().expect("spec");
        ServiceBuilder::new()
            .layer(spec.layer())
            .service_fn(|_: Request<TunnelBody>| async {
                Ok::<_, BoxError>(Response::new(TunnelBody::default()))
            })
            .oneshot(
                Request::builder()
                    .method(Method::OPTIONS)
                    .header(header::ORIGIN, origin)
                    .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
                    .body(TunnelBody::default())
                    .expect("request"),
            )
            .await
            .expect("response")
    }

    #[tokio::test]
    async fn listed_origins_get_credentials_and_others_nothing() {
        let allowed = preflight("https://app.example.com", "https://app.example.com").await;
        assert_eq!(allowed.status(), StatusCode::OK);
        let headers = allowed.headers();
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "PUT");

        let other = preflight("https://app.example.com", "https://evil.example").await;
        assert!(
            !other
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );

        let any = preflight("*", "https://anyone.example").await;
        assert_eq!(any.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(
            !any.headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
        );
    }
}
