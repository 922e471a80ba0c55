//! Mounts the player app on the page's body.

fn main() {
    leptos::mount::mount_to_body(client::App);
}
