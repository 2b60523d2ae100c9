//! Rates and specs as users write them.

use std::{num::NonZeroU32, time::Duration};

use http::HeaderName;

use super::*;

#[test]
fn rates_read_every_unit_spelling_and_write_the_short_one() {
    for (text, rate, canonical) in [
        ("10/s", Rate::per_second(10), "10/s"),
        ("10/sec", Rate::per_second(10), "10/s"),
        (" 10 / second ", Rate::per_second(10), "10/s"),
        ("600/m", Rate::per_minute(600), "600/min"),
        ("600/min", Rate::per_minute(600), "600/min"),
        ("600/minute", Rate::per_minute(600), "600/min"),
        ("1/h", Rate::per_hour(1), "1/h"),
        ("10/hour", Rate::per_hour(10), "10/h"),
    ] {
        assert_eq!(text.parse::<Rate>(), Ok(rate), "{text}");
        assert_eq!(rate.to_string(), canonical);
        assert_eq!(
            canonical.parse::<Rate>(),
            Ok(rate),
            "{canonical} reads back"
        );
    }
    assert_eq!(Rate::per_minute(600).count(), 600);
    assert_eq!(Rate::per_hour(3).per(), Duration::from_secs(3_600));
}

#[test]
fn bad_rates_are_quoted_with_what_to_write() {
    for text in ["10/day", "ten/s", "10", "/s", "-1/s", "1.5/s", "10/", ""] {
        let err = text.parse::<Rate>().expect_err(text);
        assert!(err.starts_with(&format!("{text:?} is not a rate")), "{err}");
        assert!(
            err.contains("write N/s, N/min or N/h, like 100/min"),
            "{err}"
        );
    }
    let err = "99999999999/s".parse::<Rate>().expect_err("too large");
    assert!(err.contains("too large"), "{err}");
    let err = "0/s".parse::<Rate>().expect_err("zero");
    assert!(
        err.contains("\"0/s\" lets no request through: write at least 1/h"),
        "{err}"
    );
}

#[test]
#[should_panic(expected = "at least 1 request")]
fn a_zero_rate_is_a_mistake() {
    let _ = Rate::per_second(0);
}

#[test]
#[should_panic(expected = "burst is at least 1")]
fn a_zero_burst_is_a_mistake() {
    let _ = RateLimitLayer::new(Rate::per_second(1)).burst(0);
}

#[test]
fn specs_read_the_options() {
    let spec: RateLimitSpec = "100/min".parse().expect("spec");
    assert_eq!(spec, RateLimitSpec::new(Rate::per_minute(100)));
    assert_eq!(spec.by, KeyBy::Ip);

    let spec: RateLimitSpec = "10/s, burst=20 ,by=tunnel".parse().expect("spec");
    assert_eq!(spec.rate, Rate::per_second(10));
    assert_eq!(spec.burst, NonZeroU32::new(20));
    assert_eq!(spec.by, KeyBy::Tunnel);

    let spec: RateLimitSpec = "5/s,by=header:X-Api-Key".parse().expect("spec");
    assert_eq!(spec.by, KeyBy::Header(HeaderName::from_static("x-api-key")));
    assert_eq!(spec.to_string(), "5/s,by=header:x-api-key");

    let spec: RateLimitSpec = "1/h,by=global,burst=3".parse().expect("spec");
    assert_eq!(spec.to_string(), "1/h,burst=3,by=global");
    assert_eq!(
        "1/h,by=ip"
            .parse::<RateLimitSpec>()
            .expect("spec")
            .to_string(),
        "1/h"
    );
}

#[test]
fn specs_write_what_they_read() {
    for text in [
        "100/min",
        "10/s,burst=20",
        "5/s,by=header:x-api-key",
        "1/h,burst=1,by=tunnel",
        "7/min,by=global",
        "10/second,by=ip",
        "3/hour,by=header:Authorization",
    ] {
        let spec: RateLimitSpec = text.parse().expect(text);
        let written = spec.to_string();
        assert_eq!(
            written.parse::<RateLimitSpec>(),
            Ok(spec),
            "{text} -> {written}"
        );
    }
}

#[test]
fn bad_specs_are_quoted_with_what_to_write() {
    for (text, needle) in [
        ("10/hours", "\"10/hours\" is not a rate: write N/s"),
        ("0/min", "\"0/min\" lets no request through"),
        (
            "10/s,burst=0",
            "burst=0 in \"10/s,burst=0\" lets no request through: write burst=1",
        ),
        (
            "1/h,burst=5200000",
            "burst=5200000 in \"1/h,burst=5200000\" is more than 1000000",
        ),
        (
            "10/s,burst=lots",
            "burst=\"lots\" in \"10/s,burst=lots\" is not a whole number",
        ),
        (
            "10/s,burst",
            "burst=\"\" in \"10/s,burst\" is not a whole number",
        ),
        (
            "10/s,jitter=1",
            "\"10/s,jitter=1\" has an unknown option \"jitter=1\": write N/s",
        ),
        ("10/s,", "has an unknown option \"\""),
        (
            "10/s,by=cookie",
            "\"cookie\" is not something to count requests by: write ip, tunnel",
        ),
        ("10/s,by=header:x api", "\"x api\" is not a header name"),
        ("10/s,by=header:", "\"\" is not a header name"),
        ("10/s,burst=2,burst=3", "gives burst twice"),
        ("10/s,by=ip,by=tunnel", "gives by twice"),
    ] {
        let err = text.parse::<RateLimitSpec>().expect_err(text);
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn a_spec_builds_its_layer() {
    let spec: RateLimitSpec = "1/min,burst=2,by=global".parse().expect("spec");
    let layer = spec.layer();
    assert_eq!(layer.rate(), Rate::per_minute(1));
    let debug = format!("{layer:?}");
    assert!(
        debug.contains("burst: 2") && debug.contains("by: global"),
        "{debug}"
    );
    let layer = RateLimitLayer::from(RateLimitSpec::new(Rate::per_second(3)));
    assert!(
        format!("{layer:?}").contains("burst: 3, by: ip"),
        "{layer:?}"
    );
}
