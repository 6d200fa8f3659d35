//! Status badges: the one mapping from a status word to the badge's colour.

use leptos::prelude::*;

/// The badge class for a status word, the same in every panel.
pub fn badge_class(status: &str) -> &'static str {
    match status {
        "alive" | "done" | "held" => "badge ok",
        "quiet" | "suspect" => "badge warn",
        "running" | "sending" => "badge info",
        "failed" => "badge bad",
        _ => "badge",
    }
}

/// A status word in its badge.
#[component]
pub fn Badge(
    status: &'static str,
    /// `data-testid` of the badge.
    #[prop(optional)]
    testid: Option<&'static str>,
) -> impl IntoView {
    view! { <span class=badge_class(status) data-testid=testid>{status}</span> }
}

#[cfg(test)]
mod tests {
    use super::badge_class;

    #[test]
    fn each_status_word_maps_to_its_tone() {
        let cases = [
            ("alive", "badge ok"),
            ("quiet", "badge warn"),
            ("suspect", "badge warn"),
            ("running", "badge info"),
            ("sending", "badge info"),
            ("done", "badge ok"),
            ("held", "badge ok"),
            ("failed", "badge bad"),
            ("mine", "badge"),
            ("unknown", "badge"),
        ];
        for (status, class) in cases {
            assert_eq!(badge_class(status), class, "{status}");
        }
    }
}
