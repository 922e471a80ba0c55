//! The rules the edge applies to the origin's answers: where a redirect
//! leads, where the origin's bearer token may go, what length a body is
//! stored with and how it is stored, and what a call-list page's status
//! means. The edge parses the URLs and reads the headers; every choice made
//! on them is here.

use crate::download::{AttemptOutcome, Failure, MAX_ORIGIN_REDIRECTS};
use crate::fill;

/// A URL's origin as a URL parser gives it: scheme, host, and port (the
/// scheme's default when the URL names none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlOrigin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

/// Whether a request to `target` carries the origin's bearer token: only
/// to the origin's own scheme, host and port, so a signed media URL on
/// another host (or another port of the same one) never sees it. A URL
/// without such an origin (`None`) gets none.
pub fn carries_token(target: Option<&UrlOrigin>, origin: Option<&UrlOrigin>) -> bool {
    let (Some(target), Some(origin)) = (target, origin) else {
        return false;
    };
    target.scheme.eq_ignore_ascii_case(&origin.scheme)
        && target.host.eq_ignore_ascii_case(&origin.host)
        && target.port == origin.port
}

/// Whether an answer is a redirect, which the edge follows itself (the
/// token must not follow it blindly).
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// What an attempt does with one answer of the origin's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hop<T> {
    /// Not a redirect: this answer is the recording's (or says why not).
    Answer,
    /// Ask this URL next.
    Follow(T),
    /// The attempt ends here.
    Stop(AttemptOutcome),
}

/// The next step after answer number `hop` (0: the first request's).
/// `next` is the answer's `Location` resolved against the URL that was
/// asked (`None`: no `Location`, or one that does not resolve), `scheme`
/// reads a URL's scheme. At most `MAX_ORIGIN_REDIRECTS` redirects are
/// followed, and only to `http` or `https`.
pub fn next_hop<T>(status: u16, hop: u32, next: Option<T>, scheme: impl Fn(&T) -> &str) -> Hop<T> {
    if !is_redirect(status) {
        return Hop::Answer;
    }
    match next {
        Some(next) if matches!(scheme(&next), "http" | "https") && hop < MAX_ORIGIN_REDIRECTS => {
            Hop::Follow(next)
        }
        Some(_) => Hop::Stop(AttemptOutcome::permanent(
            Failure::TooManyRedirects,
            format!("more than {MAX_ORIGIN_REDIRECTS} redirects"),
        )),
        None => Hop::Stop(AttemptOutcome::permanent(
            Failure::OriginRejected,
            "a redirect without a usable Location",
        )),
    }
}

/// The length a body is stored with: its `Content-Length`, unless the
/// answer names a content coding. A coded body is decoded by the runtime:
/// its Content-Length is not the stored length.
pub fn stored_length(content_length: Option<&str>, content_encoding: Option<&str>) -> Option<u64> {
    let coded = content_encoding
        .is_some_and(|v| !v.trim().is_empty() && !v.trim().eq_ignore_ascii_case("identity"));
    content_length
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|_| !coded)
}

/// How a recording's body is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreWay {
    /// Refused before a byte of it is read.
    Refuse(AttemptOutcome),
    /// It fits in one piece (`fill::fills`): read whole, then one `put`.
    Small(u64),
    /// A fill of this length: one `put` of the whole and its pieces.
    Fill(u64),
    /// No length known: the parts of a multipart upload, completed only
    /// after the body's clean end.
    Parts,
}

/// How a body of `length` (from `stored_length`) is stored.
pub fn store_way(length: Option<u64>, max_recording_bytes: u64) -> StoreWay {
    match length {
        Some(length) if length > max_recording_bytes => {
            StoreWay::Refuse(AttemptOutcome::permanent(
                Failure::TooLarge,
                format!("{length} bytes > MAX_RECORDING_BYTES"),
            ))
        }
        Some(length) if !fill::fills(length) => StoreWay::Small(length),
        Some(length) => StoreWay::Fill(length),
        None => StoreWay::Parts,
    }
}

/// What the origin's status for a page of a business's call list means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStatus {
    /// 200: the page.
    Page,
    /// 404: a business the origin does not know has no calls.
    NoCalls,
    /// 400: the edge checks every parameter as the origin does except the
    /// cursor, which is the origin's own: a refused query means a bad cursor.
    BadCursor,
    /// 401 or 403: the origin refused `ORIGIN_TOKEN`.
    TokenRefused,
    /// Any other status.
    Failed,
}

pub fn list_status(status: u16) -> ListStatus {
    match status {
        200 => ListStatus::Page,
        404 => ListStatus::NoCalls,
        400 => ListStatus::BadCursor,
        401 | 403 => ListStatus::TokenRefused,
        _ => ListStatus::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(scheme: &str, host: &str, port: u16) -> UrlOrigin {
        UrlOrigin {
            scheme: scheme.into(),
            host: host.into(),
            port,
        }
    }

    fn scheme<'a>(url: &'a &str) -> &'a str {
        url.split_once(':').map_or("", |(scheme, _)| scheme)
    }

    #[test]
    fn the_token_goes_to_the_origins_own_scheme_host_and_port_only() {
        let origin = at("https", "origin.example", 443);
        assert!(carries_token(Some(&origin), Some(&origin)));
        assert!(carries_token(
            Some(&at("HTTPS", "Origin.Example", 443)),
            Some(&origin)
        ));
        for elsewhere in [
            at("https", "media.example", 443),
            at("https", "origin.example", 8443),
            at("http", "origin.example", 443),
            at("https", "origin.example.media.example", 443),
        ] {
            assert!(
                !carries_token(Some(&elsewhere), Some(&origin)),
                "{elsewhere:?}"
            );
        }
    }

    #[test]
    fn a_url_without_a_host_and_port_gets_no_token() {
        let origin = at("https", "origin.example", 443);
        assert!(!carries_token(None, Some(&origin)));
        assert!(!carries_token(Some(&origin), None));
        assert!(!carries_token(None, None));
    }

    #[test]
    fn only_the_five_redirect_statuses_are_followed() {
        for status in [301, 302, 303, 307, 308] {
            assert!(is_redirect(status), "{status}");
            assert_eq!(
                next_hop(status, 0, Some("https://media/x"), scheme),
                Hop::Follow("https://media/x")
            );
        }
        for status in [200, 204, 300, 304, 305, 306, 400, 404, 500] {
            assert!(!is_redirect(status), "{status}");
            assert_eq!(
                next_hop(status, 0, Some("https://media/x"), scheme),
                Hop::Answer
            );
        }
    }

    #[test]
    fn the_last_redirect_followed_is_number_max_origin_redirects() {
        let mut hop = 0;
        while let Hop::Follow(_) = next_hop(302, hop, Some("http://media/x"), scheme) {
            hop += 1;
        }
        assert_eq!(hop, MAX_ORIGIN_REDIRECTS);
        let Hop::Stop(AttemptOutcome::Permanent { failure, detail }) =
            next_hop(302, MAX_ORIGIN_REDIRECTS, Some("http://media/x"), scheme)
        else {
            panic!("one redirect too many is followed");
        };
        assert_eq!(failure, Failure::TooManyRedirects);
        assert_eq!(
            detail,
            format!("more than {MAX_ORIGIN_REDIRECTS} redirects")
        );
    }

    #[test]
    fn a_redirect_away_from_http_is_not_followed() {
        for target in [
            "ftp://media/x",
            "file:///etc/passwd",
            "data:,x",
            "javascript:x",
        ] {
            assert!(
                matches!(
                    next_hop(302, 0, Some(target), scheme),
                    Hop::Stop(AttemptOutcome::Permanent {
                        failure: Failure::TooManyRedirects,
                        ..
                    })
                ),
                "{target}"
            );
        }
    }

    #[test]
    fn a_redirect_without_a_usable_location_is_refused_for_good() {
        assert_eq!(
            next_hop(301, 0, None::<&str>, scheme),
            Hop::Stop(AttemptOutcome::permanent(
                Failure::OriginRejected,
                "a redirect without a usable Location"
            ))
        );
        // An answer that is no redirect needs no Location.
        assert_eq!(next_hop(200, 0, None::<&str>, scheme), Hop::Answer);
    }

    #[test]
    fn content_length_is_the_stored_length_without_a_content_coding() {
        assert_eq!(stored_length(Some("1234"), None), Some(1234));
        assert_eq!(stored_length(Some(" 1234 "), None), Some(1234));
        assert_eq!(stored_length(Some("0"), None), Some(0));
        assert_eq!(stored_length(Some("1234"), Some("identity")), Some(1234));
        assert_eq!(stored_length(Some("1234"), Some(" Identity ")), Some(1234));
        assert_eq!(stored_length(Some("1234"), Some("")), Some(1234));
        assert_eq!(stored_length(Some("1234"), Some("  ")), Some(1234));
    }

    #[test]
    fn a_coded_body_has_no_stored_length() {
        for coding in ["gzip", "br", "GZIP", "deflate", "gzip, identity"] {
            assert_eq!(stored_length(Some("1234"), Some(coding)), None, "{coding}");
        }
    }

    #[test]
    fn a_missing_or_unreadable_content_length_is_no_length() {
        for length in [
            None,
            Some(""),
            Some("-1"),
            Some("12a"),
            Some("1.5"),
            Some("99999999999999999999"),
        ] {
            assert_eq!(stored_length(length, None), None, "{length:?}");
        }
    }

    #[test]
    fn a_body_is_stored_small_as_a_fill_or_in_parts_by_its_length() {
        let max = 10 << 20;
        assert_eq!(store_way(Some(0), max), StoreWay::Small(0));
        assert_eq!(
            store_way(Some(fill::FIRST_PIECE_BYTES), max),
            StoreWay::Small(fill::FIRST_PIECE_BYTES)
        );
        assert_eq!(
            store_way(Some(fill::FIRST_PIECE_BYTES + 1), max),
            StoreWay::Fill(fill::FIRST_PIECE_BYTES + 1)
        );
        assert_eq!(store_way(Some(max), max), StoreWay::Fill(max));
        assert_eq!(store_way(None, max), StoreWay::Parts);
    }

    #[test]
    fn a_body_longer_than_max_recording_bytes_is_refused_for_good() {
        assert_eq!(
            store_way(Some(101), 100),
            StoreWay::Refuse(AttemptOutcome::permanent(
                Failure::TooLarge,
                "101 bytes > MAX_RECORDING_BYTES"
            ))
        );
    }

    #[test]
    fn an_origin_400_on_a_list_page_means_a_bad_cursor() {
        assert_eq!(list_status(400), ListStatus::BadCursor);
        assert_eq!(list_status(200), ListStatus::Page);
        assert_eq!(list_status(404), ListStatus::NoCalls);
        assert_eq!(list_status(401), ListStatus::TokenRefused);
        assert_eq!(list_status(403), ListStatus::TokenRefused);
        for status in [301, 402, 429, 500, 503] {
            assert_eq!(list_status(status), ListStatus::Failed, "{status}");
        }
    }
}
