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

#[cfg(test)]
mod tests {
    use super::*;

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
