//! Facts about an incoming request that the edge decides on.

/// Guarantee 1: only an explicit user action may start a download. It is
/// either the header `X-User-Action: play` (value case-insensitive) or the
/// query parameter `explicit_user_action=true` (for the `<audio>` element,
/// which cannot send headers).
pub fn is_explicit_user_action(header: Option<&str>, query: Option<&str>) -> bool {
    if header.is_some_and(|v| v.trim().eq_ignore_ascii_case("play")) {
        return true;
    }
    query.is_some_and(|q| q.split('&').any(|pair| pair == "explicit_user_action=true"))
}

/// Whether a request that found no file of the page is a browser's
/// navigation (`Sec-Fetch-Mode: navigate`, or a GET whose `Accept` asks for
/// HTML from a client that sends no fetch metadata), which gets the page
/// itself (a deep link of the single-page app); anything else that names a
/// missing file (a script's fetch, an old hashed `.wasm`) stays a 404.
pub fn is_navigation(method: &str, sec_fetch_mode: Option<&str>, accept: Option<&str>) -> bool {
    if method != "GET" && method != "HEAD" {
        return false;
    }
    match sec_fetch_mode {
        Some(mode) => mode.trim().eq_ignore_ascii_case("navigate"),
        None => accept.is_some_and(|a| a.to_ascii_lowercase().contains("text/html")),
    }
}

/// Whether a request's host (as in its URL: no port, IPv6 in brackets) is
/// this machine: 127.0.0.0/8, `localhost` or `[::1]`. `/dev/login` answers
/// only there, whatever `DEV_LOGIN` says.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host == "[::1]" {
        return true;
    }
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets[0] == "127"
        && octets.iter().all(|o| {
            !o.is_empty()
                && o.len() <= 3
                && o.bytes().all(|b| b.is_ascii_digit())
                && o.parse::<u16>().is_ok_and(|n| n < 256)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_browsers_navigation_gets_the_page_for_a_missing_file() {
        assert!(is_navigation("GET", Some("navigate"), None));
        assert!(is_navigation("HEAD", Some("Navigate"), Some("*/*")));
        assert!(is_navigation(
            "GET",
            None,
            Some("text/html,application/xhtml+xml")
        ));
        // A script's fetch says what it is, whatever it accepts.
        assert!(!is_navigation("GET", Some("cors"), Some("text/html")));
        assert!(!is_navigation("GET", Some("no-cors"), None));
        assert!(!is_navigation("GET", None, Some("*/*")));
        assert!(!is_navigation("GET", None, None));
        assert!(!is_navigation("POST", Some("navigate"), Some("text/html")));
    }

    #[test]
    fn only_loopback_hosts_are_loopback() {
        for host in [
            "127.0.0.1",
            "127.1.2.3",
            "localhost",
            "LOCALHOST",
            "[::1]",
            "localhost.",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "example.com",
            "127.0.0.1.example.com",
            "localhost.example.com",
            "128.0.0.1",
            "127.0.0.256",
            "127.0.0",
            "[::2]",
            "",
            "10.0.0.1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn the_header_or_the_query_marks_a_user_action() {
        assert!(is_explicit_user_action(Some("play"), None));
        assert!(is_explicit_user_action(Some(" PLAY "), None));
        assert!(is_explicit_user_action(
            None,
            Some("a=1&explicit_user_action=true")
        ));
        assert!(is_explicit_user_action(
            Some("nope"),
            Some("explicit_user_action=true")
        ));
    }

    #[test]
    fn anything_else_is_not_one() {
        assert!(!is_explicit_user_action(None, None));
        assert!(!is_explicit_user_action(Some("pause"), None));
        assert!(!is_explicit_user_action(
            Some(""),
            Some("explicit_user_action=false")
        ));
        assert!(!is_explicit_user_action(
            None,
            Some("explicit_user_action=true1")
        ));
        assert!(!is_explicit_user_action(
            None,
            Some("xexplicit_user_action=true")
        ));
    }
}
