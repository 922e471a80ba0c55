//! Which endpoint a request is for, decided from its method and path alone.

/// The public API's endpoints. `call_sid` is passed on unvalidated: the
/// contract checks the token before the SID, so validation happens later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    Healthz,
    DevLogin,
    Calls,
    /// One call of the business's list: `GET /api/calls/{call_sid}`.
    Call {
        call_sid: &'a str,
    },
    Stream {
        call_sid: &'a str,
        head: bool,
    },
    Status {
        call_sid: &'a str,
    },
    Peaks {
        call_sid: &'a str,
    },
    /// Anything outside `/api/`, `/dev/` and `/healthz`: the player's page
    /// and its files, which the edge hands to the web worker as they are.
    Page,
    NotFound,
    MethodNotAllowed {
        allow: &'static str,
    },
}

pub fn route<'a>(method: &str, path: &'a str) -> Route<'a> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    if !matches!(segments.as_slice(), ["api", ..] | ["dev", ..] | ["healthz"]) {
        return Route::Page;
    }
    let (endpoint, allow) = match segments.as_slice() {
        ["healthz"] => (Route::Healthz, "GET, HEAD"),
        ["dev", "login"] => (Route::DevLogin, "GET"),
        ["api", "calls"] => (Route::Calls, "GET"),
        ["api", "calls", sid] if !sid.is_empty() => (Route::Call { call_sid: sid }, "GET"),
        ["api", "recordings", sid, "stream"] => (
            Route::Stream {
                call_sid: sid,
                head: method == "HEAD",
            },
            "GET, HEAD",
        ),
        ["api", "recordings", sid, "status"] => (Route::Status { call_sid: sid }, "GET"),
        ["api", "recordings", sid, "peaks"] => (Route::Peaks { call_sid: sid }, "GET"),
        _ => return Route::NotFound,
    };
    let allowed = match endpoint {
        Route::Healthz | Route::Stream { .. } => method == "GET" || method == "HEAD",
        _ => method == "GET",
    };
    if allowed {
        endpoint
    } else {
        Route::MethodNotAllowed { allow }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_route_to_their_endpoint() {
        assert_eq!(route("GET", "/healthz"), Route::Healthz);
        assert_eq!(route("GET", "/api/calls"), Route::Calls);
        assert_eq!(
            route("GET", "/api/calls/CAx"),
            Route::Call { call_sid: "CAx" }
        );
        assert_eq!(
            route("HEAD", "/api/calls/CAx"),
            Route::MethodNotAllowed { allow: "GET" }
        );
        assert_eq!(
            route("GET", "/api/recordings/CAx/peaks"),
            Route::Peaks { call_sid: "CAx" }
        );
        assert_eq!(
            route("POST", "/api/recordings/CAx/peaks"),
            Route::MethodNotAllowed { allow: "GET" }
        );
        assert_eq!(route("GET", "/dev/login"), Route::DevLogin);
        assert_eq!(
            route("GET", "/api/recordings/CAx/stream"),
            Route::Stream {
                call_sid: "CAx",
                head: false
            }
        );
        assert_eq!(
            route("HEAD", "/api/recordings/CAx/stream"),
            Route::Stream {
                call_sid: "CAx",
                head: true
            }
        );
        assert_eq!(
            route("GET", "/api/recordings/CAx/status"),
            Route::Status { call_sid: "CAx" }
        );
    }

    #[test]
    fn wrong_methods_are_405_with_the_allowed_ones() {
        assert_eq!(
            route("POST", "/api/calls"),
            Route::MethodNotAllowed { allow: "GET" }
        );
        assert_eq!(
            route("DELETE", "/api/recordings/x/stream"),
            Route::MethodNotAllowed { allow: "GET, HEAD" }
        );
        assert_eq!(
            route("HEAD", "/api/recordings/x/status"),
            Route::MethodNotAllowed { allow: "GET" }
        );
    }

    #[test]
    fn anything_else_is_not_found() {
        for p in [
            "/api",
            "/api/",
            "/api/calls/",
            "/api/recordings/x",
            "/api/recordings/x/stream/more",
            "/dev",
            "/dev/logout",
        ] {
            assert_eq!(route("GET", p), Route::NotFound, "{p}");
        }
    }

    #[test]
    fn paths_outside_the_api_are_the_pages() {
        for p in [
            "/",
            "/index.html",
            "/client-abc.wasm",
            "/calls/CAx",
            "/healthz/more",
            "//api/calls",
            "/API/calls",
            "/apis",
        ] {
            assert_eq!(route("GET", p), Route::Page, "{p}");
            assert_eq!(route("POST", p), Route::Page, "{p}");
        }
    }

    #[test]
    fn an_empty_sid_segment_still_routes_and_fails_validation_later() {
        assert_eq!(
            route("GET", "/api/recordings//stream"),
            Route::Stream {
                call_sid: "",
                head: false
            }
        );
    }
}
