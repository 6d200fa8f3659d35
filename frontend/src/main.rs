//! Entry point: mounts the dashboard on the page's body.

fn main() {
    leptos::mount::mount_to_body(frontend::App);
}
