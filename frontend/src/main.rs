//! The dashboard (placeholder until the Leptos app lands).

fn main() {}
